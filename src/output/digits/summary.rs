//! The readable digit-scheme report: tables with schemes down and tokenizers across.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

use crate::digits::data::{CorpusKind, RecordKind};
use crate::digits::metrics::{
    count_shapes, probe_text, shape_digits, top_shapes, ArithStats, TextStats,
};
use crate::digits::run::DigitsReport;
use crate::digits::Scheme;
use crate::util::escape::visible;

/// Shapes shown per tokenizer and scheme in the readable report.
const TOP_SHAPES: usize = 4;
/// Shapes are listed for numbers of at least this many digits (shorter ones are trivial).
const SHAPE_MIN_DIGITS: usize = 4;

fn num(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "-".to_string()
    }
}

fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", 100.0 * x)
    } else {
        "-".to_string()
    }
}

/// A plain text table: the first `left` columns left-aligned, the others right-aligned.
struct Table {
    rows: Vec<Vec<String>>,
    left: usize,
}

impl Table {
    fn new(header: Vec<String>, left: usize) -> Table {
        Table {
            rows: vec![header],
            left,
        }
    }
    fn row(&mut self, r: Vec<String>) {
        self.rows.push(r);
    }
    fn write(&self, out: &mut dyn Write) -> Result<()> {
        let n = self.rows.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut w = vec![0usize; n];
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        for r in &self.rows {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate() {
                let pad = w[i] - c.chars().count();
                if i > 0 {
                    line.push_str("  ");
                }
                if i < self.left {
                    line.push_str(c);
                    line.push_str(&" ".repeat(pad));
                } else {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(c);
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

fn tok_names(r: &DigitsReport) -> Vec<String> {
    r.tokenizers.iter().map(|t| t.name.clone()).collect()
}

/// The scheme used for the fertility table: the tokenizer's own when measured.
fn fertility_scheme(r: &DigitsReport) -> Scheme {
    if r.schemes.contains(&Scheme::Own) {
        Scheme::Own
    } else {
        r.schemes[0]
    }
}

fn write_tokenizers(r: &DigitsReport, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "tokenizers")?;
    let mut t = Table::new(
        vec![
            "name".into(),
            "format".into(),
            "ids".into(),
            "digit stage".into(),
            "file".into(),
        ],
        5,
    );
    for tk in &r.tokenizers {
        let stage = tk
            .placements
            .iter()
            .map(|(_, p)| *p)
            .find(|p| *p != crate::digits::Placement::None)
            .map(|p| p.describe())
            .unwrap_or("-");
        t.row(vec![
            tk.name.clone(),
            tk.format.clone(),
            tk.vocab_size.to_string(),
            stage.into(),
            tk.path.clone(),
        ]);
    }
    t.write(out)?;
    writeln!(out)?;
    writeln!(
        out,
        "coverage: digit strings that are one token (bare ASCII digits, leading zeros included)"
    )?;
    let mut t = Table::new(
        vec![
            "tokenizer".into(),
            "0-9".into(),
            "00-99".into(),
            "000-999".into(),
            "1-digit ok".into(),
            "3-digit ok".into(),
            "000-999 by token count".into(),
            "examples of fallback".into(),
        ],
        1,
    );
    for tk in &r.tokenizers {
        let c = &tk.coverage;
        let yes = |s: Scheme| match c.expresses(s) {
            Some(true) => "yes".to_string(),
            Some(false) => "no".to_string(),
            None => "-".to_string(),
        };
        let hist: Vec<String> = c.fallback[2]
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        let ex = c
            .examples
            .iter()
            .rev()
            .find(|e| !e.is_empty())
            .map(|e| e.iter().take(2).cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        t.row(vec![
            tk.name.clone(),
            format!("{}/{}", c.single[0], c.total[0]),
            format!("{}/{}", c.single[1], c.total[1]),
            format!("{}/{}", c.single[2], c.total[2]),
            yes(Scheme::One),
            yes(Scheme::R2l),
            hist.join(" "),
            visible(&ex),
        ]);
    }
    t.write(out)?;
    Ok(())
}

/// Rows `metric × scheme`, columns tokenizers, for one text corpus.
fn write_text_corpus(r: &DigitsReport, ci: usize, out: &mut dyn Write) -> Result<()> {
    let c = &r.corpora[ci];
    let any = r.text_for(ci, 0, r.schemes[0]);
    let numbers = any.map(|s| s.numbers).unwrap_or(0);
    writeln!(
        out,
        "\n== {} ({}: {} {}, {} bytes, {} words, {} numbers)",
        c.name,
        c.kind.name(),
        c.docs,
        if c.kind == CorpusKind::Text {
            "lines"
        } else {
            "documents"
        },
        c.bytes,
        c.words,
        numbers
    )?;
    let mut header = vec!["metric".to_string(), "scheme".to_string()];
    header.extend(tok_names(r));
    let mut t = Table::new(header, 2);
    type Metric = (&'static str, fn(&TextStats) -> String, bool);
    let metrics: [Metric; 5] = [
        ("tokens/number", |s| num(s.tokens_per_number(), 3), true),
        ("digits/token", |s| num(s.digits_per_token(), 3), true),
        ("bytes/token", |s| num(s.bytes_per_token(), 3), true),
        ("tokens/word", |s| num(s.tokens_per_word(), 3), true),
        ("groups split", |s| pct(s.split_group_rate()), false),
    ];
    for (name, f, with_own) in metrics {
        let mut first = true;
        for &scheme in &r.schemes {
            if scheme == Scheme::Own && !with_own {
                continue;
            }
            let mut row = vec![
                if first {
                    name.to_string()
                } else {
                    String::new()
                },
                scheme.label().to_string(),
            ];
            first = false;
            for ti in 0..r.tokenizers.len() {
                row.push(r.text_for(ci, ti, scheme).map(f).unwrap_or_default());
            }
            t.row(row);
        }
    }
    t.write(out)?;
    if numbers > 0 {
        writeln!(
            out,
            "most frequent digit-group shapes of numbers with {SHAPE_MIN_DIGITS}+ digits:"
        )?;
        for (ti, tk) in r.tokenizers.iter().enumerate() {
            for &scheme in &r.schemes {
                let Some(s) = r.text_for(ci, ti, scheme) else {
                    continue;
                };
                let total: u64 = s
                    .shapes
                    .iter()
                    .filter(|(k, _)| shape_digits(k) >= SHAPE_MIN_DIGITS)
                    .map(|(_, v)| v)
                    .sum();
                if total == 0 {
                    continue;
                }
                let top: Vec<String> = s
                    .top_shapes(SHAPE_MIN_DIGITS, TOP_SHAPES)
                    .into_iter()
                    .map(|(k, v)| format!("{k} {}", pct(v as f64 / total as f64)))
                    .collect();
                writeln!(
                    out,
                    "  {:<12} {:<12} {}",
                    tk.name,
                    scheme.label(),
                    top.join(", ")
                )?;
            }
        }
    }
    Ok(())
}

/// Row label of one record kind of one arithmetic file.
fn arith_label(r: &DigitsReport, ci: usize, kind: RecordKind) -> String {
    let c = &r.corpora[ci];
    if c.records.len() > 1 || kind != RecordKind::Problem {
        format!("{} [{}]", c.name, kind.key())
    } else {
        c.name.clone()
    }
}

/// The most frequent shape among shapes of 4+ digits, with its share: `3+3 (48%)`.
fn top_shape(shapes: &std::collections::BTreeMap<String, u64>) -> String {
    let total = count_shapes(shapes, SHAPE_MIN_DIGITS);
    match top_shapes(shapes, SHAPE_MIN_DIGITS, 1).first() {
        Some((k, v)) if total > 0 => format!("{k} ({:.0}%)", 100.0 * *v as f64 / total as f64),
        _ => "-".to_string(),
    }
}

fn write_arith(r: &DigitsReport, out: &mut dyn Write) -> Result<()> {
    let files: Vec<usize> = r
        .corpora
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.kind, CorpusKind::Arith(_)))
        .map(|(i, _)| i)
        .collect();
    if files.is_empty() {
        return Ok(());
    }
    // The text of the records, per file.
    type TextMetric = (&'static str, fn(&TextStats) -> String);
    let text_tables: [TextMetric; 3] = [
        (
            "tokens per number (every digit run in the records' text)",
            |s| num(s.tokens_per_number(), 3),
        ),
        ("bytes per token (the records' text)", |s| {
            num(s.bytes_per_token(), 3)
        }),
        ("tokens per word (the records' text)", |s| {
            num(s.tokens_per_word(), 3)
        }),
    ];
    for (title, f) in text_tables {
        writeln!(out, "\n== arithmetic files: {title}")?;
        let mut header = vec![
            "file".to_string(),
            "bytes".to_string(),
            "scheme".to_string(),
        ];
        header.extend(tok_names(r));
        let mut t = Table::new(header, 3);
        for &ci in &files {
            let c = &r.corpora[ci];
            for (k, &scheme) in r.schemes.iter().enumerate() {
                let mut row = if k == 0 {
                    vec![c.name.clone(), c.bytes.to_string()]
                } else {
                    vec![String::new(); 2]
                };
                row.push(scheme.label().to_string());
                for ti in 0..r.tokenizers.len() {
                    row.push(r.text_for(ci, ti, scheme).map(f).unwrap_or_default());
                }
                t.row(row);
            }
        }
        t.write(out)?;
    }
    let groups: Vec<(usize, RecordKind)> = files
        .iter()
        .flat_map(|&ci| r.corpora[ci].records.keys().map(move |k| (ci, *k)))
        .collect();
    type Metric = (&'static str, fn(&ArithStats) -> String);
    let tables: [Metric; 4] = [
        (
            "answer cuts aligned with the operands' place values (% of integer records)",
            |s| pct(s.aligned_rate()),
        ),
        (
            "aligned, among records whose answer has more digits than the longest operand",
            |s| pct(s.aligned_when_longer_rate()),
        ),
        ("tokens per answer", |s| num(s.tokens_per_answer(), 3)),
        (
            "most frequent shape of answers with 4+ digits (share of those answers)",
            |s| top_shape(&s.answer_shapes),
        ),
    ];
    for (title, f) in tables {
        writeln!(out, "\n== arithmetic records: {title}")?;
        let mut header = vec![
            "records".to_string(),
            "n".to_string(),
            "ans>ops".to_string(),
            "scheme".to_string(),
        ];
        header.extend(tok_names(r));
        let mut t = Table::new(header, 4);
        for &(ci, kind) in &groups {
            for (k, &scheme) in r.schemes.iter().enumerate() {
                let base = r.arith_for(ci, kind, 0, scheme);
                let mut row = if k == 0 {
                    vec![
                        arith_label(r, ci, kind),
                        base.map(|s| s.records.to_string()).unwrap_or_default(),
                        base.map(|s| pct(s.answer_longer_rate()))
                            .unwrap_or_default(),
                    ]
                } else {
                    vec![String::new(); 3]
                };
                row.push(scheme.label().to_string());
                for ti in 0..r.tokenizers.len() {
                    row.push(r.arith_for(ci, kind, ti, scheme).map(f).unwrap_or_default());
                }
                t.row(row);
            }
        }
        t.write(out)?;
    }
    writeln!(
        out,
        "records: [problem] GPT-3 style question operands -> answer; [final] GSM8K question \
         numbers -> #### answer; [calc] GSM8K <<a op b=c>> annotations. ans>ops: share of \
         integer records whose answer has more digits than the longest operand. Aligned: \
         every operand is cut at the same place values as the answer, where both have digits."
    )?;
    Ok(())
}

fn write_fertility(r: &DigitsReport, out: &mut dyn Write) -> Result<()> {
    let langs: Vec<usize> = r
        .corpora
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.kind, CorpusKind::Pud { .. }))
        .map(|(i, _)| i)
        .collect();
    if langs.is_empty() {
        return Ok(());
    }
    let scheme = fertility_scheme(r);
    let en = langs.iter().copied().find(|&i| r.corpora[i].name == "en");
    let dir = r.corpora[langs[0]]
        .path
        .as_deref()
        .map(|p| {
            Path::new(p)
                .parent()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    type Metric = (&'static str, fn(&TextStats, Option<&TextStats>) -> String);
    let tables: [Metric; 4] = [
        ("tokens per sentence", |s, _| num(s.tokens_per_doc(), 1)),
        ("bytes per token", |s, _| num(s.bytes_per_token(), 2)),
        ("tokens per word (whitespace-separated)", |s, _| {
            num(s.tokens_per_word(), 2)
        }),
        ("tokens relative to English", |s, en| {
            en.map(|e| num(s.tokens as f64 / e.tokens as f64, 2))
                .unwrap_or_default()
        }),
    ];
    for (title, f) in tables {
        if title.contains("English") && en.is_none() {
            continue;
        }
        writeln!(
            out,
            "\n== fertility on {dir} ({} scheme): {title}",
            scheme.label()
        )?;
        let mut header = vec![
            "lang".to_string(),
            "sentences".to_string(),
            "bytes/sent".to_string(),
        ];
        header.extend(tok_names(r));
        let mut t = Table::new(header, 1);
        for &ci in &langs {
            let c = &r.corpora[ci];
            let mut row = vec![
                c.name.clone(),
                c.docs.to_string(),
                num(c.bytes as f64 / c.docs.max(1) as f64, 1),
            ];
            for ti in 0..r.tokenizers.len() {
                let e = en.and_then(|e| r.text_for(e, ti, scheme));
                row.push(
                    r.text_for(ci, ti, scheme)
                        .map(|s| f(s, e))
                        .unwrap_or_default(),
                );
            }
            t.row(row);
        }
        t.write(out)?;
    }
    Ok(())
}

fn write_probe(r: &DigitsReport, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "\n== decimal comparison probe: {:?}; each side's cut, \
         '!' = fractional digits cut at different place values",
        probe_text("A", "B")
    )?;
    let mut header = vec!["pair".to_string(), "scheme".to_string()];
    header.extend(tok_names(r));
    let mut t = Table::new(header, usize::MAX);
    let mut pairs: Vec<(String, String)> = Vec::new();
    for p in &r.probe {
        if !pairs.contains(&p.pair) {
            pairs.push(p.pair.clone());
        }
    }
    for pair in &pairs {
        let mut first = true;
        for &scheme in &r.schemes {
            let mut row = vec![
                if first {
                    format!("{} vs {}", pair.0, pair.1)
                } else {
                    String::new()
                },
                scheme.label().to_string(),
            ];
            first = false;
            for ti in 0..r.tokenizers.len() {
                let cell = r
                    .probe
                    .iter()
                    .find(|p| &p.pair == pair && p.tokenizer == ti && p.scheme == scheme)
                    .map(|p| {
                        format!(
                            "{} {}{}",
                            visible(&p.cut.left.display()),
                            visible(&p.cut.right.display()),
                            if p.cut.fraction_aligned { "" } else { " !" }
                        )
                    })
                    .unwrap_or_default();
                row.push(cell);
            }
            t.row(row);
        }
    }
    t.write(out)
}

/// The readable report.
pub fn write_summary(r: &DigitsReport, out: &mut dyn Write) -> Result<()> {
    write_tokenizers(r, out)?;
    for (ci, c) in r.corpora.iter().enumerate() {
        if matches!(c.kind, CorpusKind::Text | CorpusKind::Generated) {
            write_text_corpus(r, ci, out)?;
        }
    }
    write_arith(r, out)?;
    write_fertility(r, out)?;
    write_probe(r, out)?;
    Ok(())
}
