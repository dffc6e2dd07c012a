//! rt-core (work in progress).
#![forbid(unsafe_code)]

pub mod error;
pub mod registry;

pub use error::{BoxError, RuntimeError};
