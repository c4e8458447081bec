//! `tokenaudit digits`: placeholder.

use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct DigitsArgs {}

pub fn run(_a: DigitsArgs) -> Result<()> {
    anyhow::bail!("not implemented yet")
}
