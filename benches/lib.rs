//! Criterion benchmarks of the runtime (see `benches/`); run them with `cargo xtask bench`.
