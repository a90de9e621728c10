//! `qorovul check-config FILE`: load a pipeline config and say what is wrong (file, line,
//! field), or what it holds.

use crate::config::PipelineConfig;
use std::path::Path;

pub fn run(file: &Path) -> Result<(), String> {
    let cfg = PipelineConfig::load(file)?;
    println!("{}: ok — {}", file.display(), cfg.summary());
    Ok(())
}
