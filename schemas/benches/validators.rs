//! Validator throughput (filled in by the foundation issue).
fn main() {}
