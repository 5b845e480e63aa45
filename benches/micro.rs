//! Micro benchmarks (page decode, Parquet encode); filled in with the benchmark suite.
fn main() {}
