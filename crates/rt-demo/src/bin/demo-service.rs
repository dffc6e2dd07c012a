//! The demo service: see [`rt_demo::service`].

fn main() {
    std::process::exit(rt_demo::service::run());
}
