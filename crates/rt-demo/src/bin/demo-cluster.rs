//! The cluster demo: see [`rt_demo::cluster`].

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(rt_demo::cluster::run(&args));
}
