//! The demo's load driver: see [`rt_demo::driver`].

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(rt_demo::driver::run(&args));
}
