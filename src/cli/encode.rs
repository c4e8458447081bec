//! `tokenaudit encode`: a tokenizer playground on the command line.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use super::flags::TokenizerFlags;
use super::read_text;
use tokenaudit::digits::{Scheme, Schemed};
use tokenaudit::util;

#[derive(Debug, Args)]
pub struct EncodeArgs {
    #[command(flatten)]
    pub tok: TokenizerFlags,
    /// Text to encode (or use --file).
    #[arg(value_name = "TEXT", conflicts_with = "file")]
    pub text: Option<String>,
    /// Encode the contents of this UTF-8 file.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Show each piece beside its id.
    #[arg(long)]
    pub tokens: bool,
    /// Cut digits with this scheme first (a stage in front of the tokenizer's own
    /// pre-tokenization; the vocabulary stays the same): own, 1 (every digit alone),
    /// l2r (groups of three from the left), r2l (groups of three from the right).
    #[arg(long, value_name = "own|1|l2r|r2l")]
    pub digits: Option<Scheme>,
}

pub fn run(e: EncodeArgs) -> Result<()> {
    let text = match (&e.text, &e.file) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => read_text(f)?,
        (None, None) => bail!("give TEXT to encode or --file FILE"),
    };
    let vocab = e.tok.load()?;
    let schemed = Schemed::new(&vocab.tokenizer, e.digits.unwrap_or(Scheme::Own))
        .map_err(|err| anyhow::anyhow!("{}: {err}", vocab.source.display()))?;
    // `encode` (not `encode_fast`) so that the pieces come with the ids.
    let enc = schemed
        .encoding(&text)
        .map_err(|err| anyhow::anyhow!("{}: cannot encode: {err}", vocab.source.display()))?;
    let pieces: Vec<(u32, &String)> = enc
        .get_ids()
        .iter()
        .copied()
        .zip(enc.get_tokens())
        .collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if e.tokens {
        for (id, piece) in &pieces {
            let decoded = vocab.decode(&[*id]).unwrap_or_default();
            writeln!(
                out,
                "{id:>8}  {:<24} {:?}",
                util::escape::visible(piece),
                util::escape::visible(&decoded)
            )?;
        }
        writeln!(out, "{} tokens", pieces.len())?;
    } else {
        let ids: Vec<String> = pieces.iter().map(|(i, _)| i.to_string()).collect();
        writeln!(out, "{}", ids.join(" "))?;
    }
    Ok(())
}
