//! Generation traces and evaluation tables.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use super::write_atomic;
use crate::eval::EvalReport;
use crate::generate::Generation;
use crate::util::escape::spreadsheet;
use crate::vocab::Vocab;

pub fn write_trace(vocab: &Vocab, g: &Generation, path: &Path) -> Result<()> {
    write_atomic(path, |w| {
        let mut c = csv::Writer::from_writer(w);
        c.write_record([
            "step",
            "id",
            "token",
            "entropy_bits",
            "varentropy",
            "state",
            "pause",
        ])?;
        for s in &g.trace {
            c.write_record([
                s.step.to_string(),
                s.id.to_string(),
                spreadsheet(&vocab.decode(&[s.id]).unwrap_or_default()),
                format!("{:.6}", s.entropy),
                format!("{:.6}", s.varentropy),
                s.state.to_string(),
                s.pause.to_string(),
            ])?;
        }
        c.flush()?;
        Ok(())
    })
}

pub fn write_answers(r: &EvalReport, path: &Path) -> Result<()> {
    write_atomic(path, |w| {
        let mut c = csv::Writer::from_writer(w);
        c.write_record([
            "sampler",
            "index",
            "gold",
            "predicted",
            "correct",
            "tokens",
            "pauses",
            "stop",
            "output",
        ])?;
        for a in &r.answers {
            c.write_record([
                a.sampler.clone(),
                a.index.to_string(),
                a.gold_text.clone(),
                a.predicted.map(|x| x.to_string()).unwrap_or_default(),
                a.correct.to_string(),
                a.tokens.to_string(),
                a.pauses.to_string(),
                a.stop.to_string(),
                spreadsheet(&a.output),
            ])?;
        }
        c.flush()?;
        Ok(())
    })
}

pub fn write_eval_table(r: &EvalReport, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "{:<10} {:>8} {:>9} {:>17} {:>10} {:>7} {:>9} {:>8}",
        "sampler", "scored", "accuracy", "95% CI", "mean tok", "pauses", "tok/s", "no ans"
    )?;
    for s in &r.results {
        let scored = s.problems - s.unparseable_gold - s.too_long;
        writeln!(
            out,
            "{:<10} {:>8} {:>8.1}% {:>7.1}%–{:>5.1}%  {:>10.1} {:>7} {:>9.1} {:>8}",
            s.sampler,
            scored,
            100.0 * s.accuracy,
            100.0 * s.ci95.0,
            100.0 * s.ci95.1,
            s.mean_tokens,
            s.pauses,
            s.tokens_per_s,
            s.no_answer
        )?;
    }
    if let Some(s) = r.results.first() {
        if s.unparseable_gold > 0 || s.too_long > 0 {
            writeln!(
                out,
                "\nleft out: {} problems with an unparseable gold answer, {} whose prompt \
                 fills the model's context",
                s.unparseable_gold, s.too_long
            )?;
        }
    }
    Ok(())
}
