//! `cargo xtask spec-check --upstream FILE` (placeholder, being written).

pub fn run(_args: &[String]) -> Result<(), String> {
    Err("spec-check is not written yet".to_owned())
}
