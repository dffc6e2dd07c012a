//! A demo HTTP service on `rt-core`, and the tools that drive it.
//!
//! - [`service`]: the service itself (binary `demo-service`): `POST /work` burns CPU on the
//!   compute pool and waits, on a graceful endpoint, with the status server on; configured
//!   only through [`RuntimeConfig`](rt_core::config::RuntimeConfig) and its `DYN_*` variables.
//! - [`driver`]: the load driver behind `cargo xtask demo` (binary `demo-driver`): starts the
//!   service, loads it, sends SIGTERM mid-flight and prints what the shutdown did.
//! - [`client`]: a minimal blocking HTTP/1.1 client; [`process`]: the service as a watched
//!   child process; [`protocol`]: what they exchange. Shared by the driver and the
//!   end-to-end tests.
#![forbid(unsafe_code)]

pub mod client;
pub mod cluster;
pub mod cpu;
pub mod driver;
mod error;
pub mod gateway;
pub mod process;
pub mod protocol;
pub mod service;

pub use error::DemoError;
