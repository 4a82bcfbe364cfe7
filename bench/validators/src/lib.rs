//! Nothing: the benchmark is `benches/validators.rs`.
