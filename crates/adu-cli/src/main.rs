//! The `adu` command (being written).
fn main() {}
