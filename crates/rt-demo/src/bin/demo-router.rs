//! The demo router: see [`rt_demo::gateway`].

fn main() {
    std::process::exit(rt_demo::gateway::run());
}
