//! `tokenaudit sample`: the sampler inspector — one distribution through the filter chain.

use std::io::Write;

use anyhow::{bail, Result};
use clap::Args;

use tokenaudit::sampler::filters::Filter;
use tokenaudit::sampler::inspect::{self, Inspection};

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// The distribution as probabilities, one per id (must sum to 1).
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        conflicts_with = "logits"
    )]
    pub probs: Option<Vec<f64>>,
    /// The distribution as logits, one per id.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub logits: Option<Vec<f32>>,
    /// Temperature (not given: 1; 0 = greedy).
    #[arg(long)]
    pub temp: Option<f32>,
    /// Keep the K most probable ids (not given: off).
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Keep the smallest set with this much probability (not given: off).
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Keep ids with p ≥ min-p × max p (not given: off).
    #[arg(long)]
    pub min_p: Option<f32>,
    /// Print one JSON object: `probs` (one per input id, after the chain, renormalised; 0
    /// for removed ids), `kept`, `entropy_bits`, `varentropy_bits`, `state`.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: SampleArgs) -> Result<()> {
    let logits: Vec<f32> = match (&a.probs, &a.logits) {
        (Some(p), _) => inspect::logits_of_probs(p).map_err(|e| anyhow::anyhow!("--probs: {e}"))?,
        (None, Some(l)) => {
            if let Some((i, z)) = l.iter().enumerate().find(|(_, z)| z.is_nan()) {
                bail!("--logits: value {i} is {z}");
            }
            l.clone()
        }
        (None, None) => bail!("give the distribution with --probs P0,P1,… or --logits L0,L1,…"),
    };
    if logits.is_empty() {
        bail!("the distribution is empty");
    }
    let f = Filter {
        temp: a.temp.unwrap_or(1.0),
        beta: 1.0,
        top_k: a.top_k.unwrap_or(0),
        top_p: a.top_p.unwrap_or(1.0),
        min_p: a.min_p.unwrap_or(0.0),
    };
    if !(f.temp.is_finite() && f.temp >= 0.0) {
        bail!("--temp must be ≥ 0, got {}", f.temp);
    }
    if !(f.top_p > 0.0 && f.top_p <= 1.0) {
        bail!("--top-p must be in (0, 1], got {}", f.top_p);
    }
    if !(0.0..=1.0).contains(&f.min_p) {
        bail!("--min-p must be in [0, 1], got {}", f.min_p);
    }
    let r = inspect::inspect(&logits, &f);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.json {
        serde_json::to_writer(&mut out, &r)?;
        writeln!(out)?;
    } else {
        table(&mut out, &logits, &r)?;
    }
    Ok(())
}

fn table(out: &mut impl Write, logits: &[f32], r: &Inspection) -> Result<()> {
    let (zmax, _) = tokenaudit::sampler::metrics::max_logit(logits).unwrap_or((0.0, 0));
    let sum: f64 = logits.iter().map(|&z| ((z - zmax) as f64).exp()).sum();
    writeln!(out, "{:>6}  {:>10}  {:>10}", "id", "p in", "p out")?;
    for (i, (&z, &p)) in logits.iter().zip(&r.probs).enumerate() {
        let pin = ((z - zmax) as f64).exp() / sum;
        writeln!(out, "{i:>6}  {pin:>10.6}  {p:>10.6}")?;
    }
    writeln!(
        out,
        "kept {} of {}; entropy {:.4} bits, varentropy {:.4} bits², entropix state {}",
        r.kept,
        logits.len(),
        r.entropy_bits,
        r.varentropy_bits,
        r.state
    )?;
    Ok(())
}
