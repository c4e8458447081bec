//! Command-line flags, each with its help beside it, resolved once into plain settings
//! that the library functions take (the ripgrep way). `main.rs` only calls [`run`]. The
//! flag groups several commands share are declared once in [`flags`]; each command's own
//! flags and its small driver (resolve, call the library, print) live in their own file
//! beside this one.

use anyhow::Result;
use clap::{Parser, Subcommand};

pub mod audit;
pub mod digits;
pub mod encode;
pub mod export;
pub mod flags;
pub mod generate;
pub mod glitch;
pub mod pause;
pub mod report;
pub mod sample;
pub mod scan;
pub mod verify;

#[derive(Debug, Parser)]
#[command(
    name = "tokenaudit",
    version,
    about = "Audit tokenizers and find the tokens a language model never learned",
    long_about = "Audit tokenizers of any format (tokenizer.json, SentencePiece, tiktoken, GGUF) \
                  and find under-trained tokens in model checkpoints."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Categorize every token id: which can never be produced from text, which decode to
    /// broken UTF-8, which are bytes or specials.
    Audit(audit::AuditArgs),
    /// Encode text and print the ids (and pieces), like a tokenizer playground.
    Encode(encode::EncodeArgs),
    /// Flag under-trained tokens of a model from its embedding matrices alone
    /// (memory-mapped; only the embedding tensors are read).
    Scan(scan::ScanArgs),
    /// Compare digit pre-tokenization schemes (own, 1-digit, 3-digit left-to-right,
    /// 3-digit right-to-left) on one or more tokenizers, on text and arithmetic.
    Digits(digits::DigitsArgs),
    /// Confirm candidate under-trained tokens with real forward passes (CPU or CUDA).
    Verify(verify::VerifyArgs),
    /// Scan and verify in one go, and write the final glitch-token CSV.
    Glitch(glitch::GlitchArgs),
    /// Rank tokens that can be repurposed as pause tokens, by measured disturbance (KL).
    Pause(pause::PauseArgs),
    /// Generate text with the entropy-aware sampler (and pause-token insertion).
    Generate(generate::GenerateArgs),
    /// Compare samplers on GSM8K or GPT-3 arithmetic problems.
    Eval(generate::EvalArgs),
    /// Show what a sampler setting does to one distribution (given as --probs or
    /// --logits): the probabilities after the filter chain, entropy and entropix state.
    Sample(sample::SampleArgs),
    /// Write one self-contained HTML report (tables and plots) of the audit, scan,
    /// verification, pause ranking and digit schemes.
    Report(report::ReportArgs),
    /// Write a Hugging Face Llama checkpoint directory as one GGUF file that llama.cpp
    /// loads (weights, hyper-parameters and tokenizer).
    ExportGguf(export::ExportGgufArgs),
}

/// Check every output path a command was given before any work starts (a directory, a
/// missing parent, a device: refused now, not after an hour of forward passes). Returns
/// whether one of them is standard output, so the readable summary goes to stderr
/// instead of into the file's bytes.
pub fn check_outputs<'a>(
    paths: impl IntoIterator<Item = Option<&'a std::path::Path>>,
) -> Result<bool> {
    let mut stdout = false;
    for p in paths.into_iter().flatten() {
        stdout |= tokenaudit::util::fs::check_output(p)?.is_stdout();
    }
    Ok(stdout)
}

/// Where the readable summary goes: stdout, or stderr when an output file is stdout.
pub fn summary_out(to_stderr: bool) -> Box<dyn std::io::Write> {
    if to_stderr {
        Box::new(std::io::stderr().lock())
    } else {
        Box::new(std::io::stdout().lock())
    }
}

/// Show the library's warnings, one line each, on stderr.
pub fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("tokenaudit: warning: {w}");
    }
}

/// One line for an error and its causes. Our error types already put their cause in
/// their own message, so a cause whose text is already shown is not repeated.
pub fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let full = cause.to_string();
        let text = tokenaudit::util::text::strip_backtrace(&full).to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}

/// Whether `e` comes from writing to a closed stdout (`tokenaudit digits | head`): the
/// reader has what it wanted, so this is no failure. Errors of the serving engine's
/// client are text only, so a closed connection is never mistaken for it.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

/// Run a parsed command line; errors come back to `main`, which prints them on one line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Audit(a) => audit::run(a),
        Command::Encode(e) => encode::run(e),
        Command::Scan(s) => scan::run(s),
        Command::Digits(d) => digits::run(d),
        Command::Verify(v) => verify::run(v),
        Command::Glitch(g) => glitch::run(g),
        Command::Pause(p) => pause::run(p),
        Command::Generate(g) => generate::run_generate(g),
        Command::Eval(e) => generate::run_eval(e),
        Command::Sample(s) => sample::run(s),
        Command::Report(r) => report::run(r),
        Command::ExportGguf(x) => export::run(x),
    }
}

pub use tokenaudit::util::text::read_text;
