//! `tokenaudit encode`: a tokenizer playground on the command line.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use super::flags::TokenizerFlags;
use super::read_text;
use tokenaudit::chat::{self, ChatTemplate};
use tokenaudit::digits::{Scheme, Schemed};
use tokenaudit::util;

#[derive(Debug, Args)]
pub struct EncodeArgs {
    #[command(flatten)]
    pub tok: TokenizerFlags,
    /// Text to encode (or use --file, or --chat).
    #[arg(value_name = "TEXT", conflicts_with_all = ["file", "chat"])]
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
    /// Render this conversation (a JSON list of {"role", "content"} messages) with the
    /// tokenizer's chat template — a GGUF's `tokenizer.chat_template`, or
    /// `chat_template.jinja` / `tokenizer_config.json` beside the tokenizer — and encode
    /// the rendered prompt, special tokens included, like a playground's chat view.
    #[arg(long, value_name = "MESSAGES.json", conflicts_with_all = ["file", "digits"])]
    pub chat: Option<PathBuf>,
    /// With --chat: open the assistant's turn at the end (what a model then completes).
    #[arg(long, requires = "chat")]
    pub add_generation_prompt: bool,
    /// With --chat: this Jinja template instead of the tokenizer's own.
    #[arg(long, value_name = "FILE", requires = "chat")]
    pub chat_template: Option<PathBuf>,
    /// Print one JSON object: `text` (the input or rendered prompt), `ids`, and with
    /// --chat `template` (where the template came from).
    #[arg(long)]
    pub json: bool,
}

fn chat(e: &EncodeArgs, path: &std::path::Path) -> Result<()> {
    let vocab = e.tok.load()?;
    let template = match &e.chat_template {
        Some(f) => ChatTemplate::from_file(f, &vocab)?,
        None => {
            let Some(tok) = &e.tok.tokenizer else {
                bail!(
                    "--chat needs a --tokenizer that has a chat template (or --chat-template FILE)"
                );
            };
            ChatTemplate::find(tok, &vocab)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: no chat template (no tokenizer.chat_template in a GGUF, no \
                     chat_template.jinja or tokenizer_config.json chat_template beside it); \
                     give one with --chat-template FILE",
                    tok.display()
                )
            })?
        }
    };
    let messages = chat::read_messages(path)?;
    let text = template.render(&messages, e.add_generation_prompt)?;
    let ids = vocab
        .encode(&text)
        .map_err(|err| anyhow::anyhow!("{}: cannot encode: {err}", vocab.source.display()))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if e.json {
        let v = serde_json::json!({"text": text, "ids": ids, "template": template.origin});
        writeln!(out, "{v}")?;
        return Ok(());
    }
    writeln!(out, "{text}")?;
    if e.tokens {
        for id in &ids {
            let decoded = vocab.decode(&[*id]).unwrap_or_default();
            writeln!(out, "{id:>8}  {:?}", util::escape::visible(&decoded))?;
        }
    }
    let shown: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    writeln!(out, "{}", shown.join(" "))?;
    writeln!(out, "{} tokens; template: {}", ids.len(), template.origin)?;
    Ok(())
}

pub fn run(e: EncodeArgs) -> Result<()> {
    if let Some(path) = &e.chat {
        return chat(&e, path);
    }
    let text = match (&e.text, &e.file) {
        (Some(t), _) => t.clone(),
        (None, Some(f)) => read_text(f)?,
        (None, None) => bail!("give TEXT to encode, --file FILE or --chat MESSAGES.json"),
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
    if e.json {
        let ids: Vec<u32> = pieces.iter().map(|(i, _)| *i).collect();
        writeln!(out, "{}", serde_json::json!({"text": text, "ids": ids}))?;
    } else if e.tokens {
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
