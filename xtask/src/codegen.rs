//! `cargo xtask codegen [--check]` (placeholder, being written).

pub fn run(_args: &[String]) -> Result<(), String> {
    Ok(())
}
