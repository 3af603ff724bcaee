//! Placeholder until the benchmark tool lands.
fn main() {}
