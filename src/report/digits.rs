//! The digit-scheme section, from `digits --json`: the tokenizers' digit coverage, the
//! text and arithmetic metrics per scheme as tables and charts, and the decimal probe.
//!
//! The JSON is read through the schema its writer uses ([`crate::digits::json`]): a file
//! that does not fit is refused when it is read, and a ratio the file has as `null` (a
//! zero denominator) leaves a dash in its cell.

use anyhow::Result;
use maud::{html, Markup};

use super::html::{num, pct, text_markup};
use super::plots::{self, Series};
use super::{figure, legend, Section};
use crate::digits::json::{ArithRow, DigitsJson, TextRow};

/// A row of the text or arithmetic metrics: where it was measured, so one table and chart
/// code serves both.
trait MetricRow {
    fn source(&self) -> &str;
    fn tokenizer(&self) -> &str;
    fn scheme(&self) -> &str;
}

impl MetricRow for TextRow {
    fn source(&self) -> &str {
        &self.source
    }
    fn tokenizer(&self) -> &str {
        &self.tokenizer
    }
    fn scheme(&self) -> &str {
        &self.scheme
    }
}

impl MetricRow for ArithRow {
    fn source(&self) -> &str {
        &self.source
    }
    fn tokenizer(&self) -> &str {
        &self.tokenizer
    }
    fn scheme(&self) -> &str {
        &self.scheme
    }
}

/// A metric column: the field it shows (`null` in the file is a dash), its heading, and
/// whether it is a rate (shown as a percentage).
type Column<'a, R> = (fn(&R) -> Option<f64>, &'a str, bool);

/// A metric's value for the table and chart: NaN where the file has `null`.
fn value<R>(r: &R, get: fn(&R) -> Option<f64>) -> f64 {
    get(r).unwrap_or(f64::NAN)
}

/// Distinct values of a key, in first-seen order.
fn distinct<'a, R: 'a>(
    rows: impl IntoIterator<Item = &'a R>,
    k: impl Fn(&'a R) -> &'a str,
) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for r in rows {
        let x = k(r);
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// Scheme keys in the order the JSON lists them, with their labels.
fn schemes(d: &DigitsJson) -> Vec<(String, String)> {
    d.schemes
        .iter()
        .map(|x| {
            let label = if x.label.is_empty() { &x.key } else { &x.label };
            (x.key.clone(), label.clone())
        })
        .collect()
}

/// Metrics of one section, per source: a table (tokenizer × scheme) and a chart of one
/// headline metric (schemes across, one bar per tokenizer).
fn metric_block<R: MetricRow>(
    d: &DigitsJson,
    rows: &[R],
    cols: &[Column<R>],
    headline: (fn(&R) -> Option<f64>, &str),
) -> Result<Markup> {
    let schemes = schemes(d);
    let label = |k: &str| label_of(&schemes, k);
    let mut blocks = Vec::new();
    for src in distinct(rows, R::source) {
        let sub: Vec<&R> = rows.iter().filter(|r| r.source() == src).collect();
        let toks = distinct(sub.iter().copied(), R::tokenizer);
        let keys = distinct(sub.iter().copied(), R::scheme);
        let series: Vec<Series> = toks
            .iter()
            .enumerate()
            .map(|(i, t)| Series {
                name: t.to_string(),
                values: keys
                    .iter()
                    .map(|k| {
                        sub.iter()
                            .find(|r| r.tokenizer() == *t && r.scheme() == *k)
                            .map(|r| value(*r, headline.0))
                            .unwrap_or(f64::NAN)
                    })
                    .collect(),
                color: plots::PALETTE[i % plots::PALETTE.len()],
            })
            .collect();
        let has = series
            .iter()
            .any(|s| s.values.iter().any(|v| v.is_finite()));
        let chart = if has {
            Some(plots::grouped_bars(
                &keys.iter().map(|k| label(k)).collect::<Vec<_>>(),
                &series,
                headline.1,
                None,
                (560, 260),
            )?)
        } else {
            None
        };
        blocks.push(html! {
            h4 { (src) }
            div.grid2 {
                div {
                    table.nowrap {
                        thead { tr {
                            th { "tokenizer" } th { "scheme" }
                            @for (_, name, _) in cols { th.n { (name) } }
                        } }
                        tbody {
                            @for r in &sub {
                                tr {
                                    td { (r.tokenizer()) }
                                    td { (label(r.scheme())) }
                                    @for (get, _, is_rate) in cols {
                                        td.n { (if *is_rate { pct(value(*r, *get)) } else { num(value(*r, *get)) }) }
                                    }
                                }
                            }
                        }
                    }
                }
                @if let Some(c) = chart {
                    (figure(c, html! {
                        (headline.1) " per scheme and tokenizer: "
                        (legend(&series.iter().map(|s| plots::Key::area(s.name.clone(), s.color)).collect::<Vec<_>>()))
                    }))
                }
            }
        });
    }
    Ok(html! { @for b in &blocks { (b) } })
}

/// The section, from a `digits --json` file read back by its schema.
pub(crate) fn section(d: &DigitsJson) -> Result<Section> {
    let toks = &d.tokenizers;
    let schemes = schemes(d);
    let probe = &d.probe;
    let text_block = metric_block(
        d,
        &d.text,
        &[
            (|r: &TextRow| r.tokens_per_number, "tokens / number", false),
            (|r: &TextRow| r.digits_per_token, "digits / token", false),
            (|r: &TextRow| r.bytes_per_token, "bytes / token", false),
            (|r: &TextRow| r.tokens_per_word, "tokens / word", false),
            (|r: &TextRow| r.split_group_rate, "split groups", true),
        ],
        (|r: &TextRow| r.tokens_per_number, "tokens per number"),
    )?;
    let arith_block = metric_block(
        d,
        &d.arith,
        &[
            (|r: &ArithRow| r.aligned_rate, "aligned", true),
            (|r: &ArithRow| r.answer_longer_rate, "answer longer", true),
            (|r: &ArithRow| r.tokens_per_answer, "tokens / answer", false),
            (
                |r: &ArithRow| r.tokens_per_operand,
                "tokens / operand",
                false,
            ),
        ],
        (|r: &ArithRow| r.aligned_rate, "share of aligned answers"),
    )?;
    let body = html! {
        p.note { "Read from the digit-scheme comparison (" code { "tokenaudit digits --json" } ")." }
        @if !toks.is_empty() {
            h3 { "Tokenizers and their digit tokens" }
            table {
                thead { tr {
                    th { "tokenizer" } th { "format" } th.n { "ids" }
                    th.n { "1-digit single" } th.n { "2-digit single" } th.n { "3-digit single" }
                    th { "expresses" }
                } }
                tbody {
                    @for t in toks {
                        tr {
                            td { (t.name) }
                            td { (t.format) }
                            td.n { (t.vocab_size) }
                            @for c in t.coverage.iter().take(3) {
                                td.n { (c.single) " / " (c.total) }
                            }
                            td {
                                @for (k, e) in &t.expresses {
                                    @if *e {
                                        (label_of(&schemes, k)) " "
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p.note { "“single”: numbers of that many digits that are one token; “expresses”: schemes whose \
                      every digit group is one token of this vocabulary." }
        }
        @if !d.text.is_empty() {
            h3 { "Numbers in text" }
            (text_block)
        }
        @if !d.arith.is_empty() {
            h3 { "Arithmetic" }
            p.note { "“aligned”: the answer's tokens line up with the operands' digit groups." }
            (arith_block)
        }
        @if !probe.is_empty() {
            h3 { "Decimal probe" }
            table {
                thead { tr { th { "tokenizer" } th { "scheme" } th { "left" } th { "right" } th { "fraction aligned" } } }
                tbody {
                    @for p in probe {
                        tr {
                            td { (p.tokenizer) }
                            td { (label_of(&schemes, &p.scheme)) }
                            td { (cut(&p.left, &p.left_cut)) }
                            td { (cut(&p.right, &p.right_cut)) }
                            td { (p.fraction_aligned) }
                        }
                    }
                }
            }
        }
    };
    Ok(Section {
        id: "digits",
        title: "Digit schemes".into(),
        body,
    })
}

/// A scheme's label from its key.
fn label_of(schemes: &[(String, String)], key: &str) -> String {
    schemes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, l)| l.clone())
        .unwrap_or_else(|| key.to_string())
}

/// A number and how it was cut, e.g. `9.11` → `9|.|11`.
fn cut(number: &str, pieces: &[String]) -> Markup {
    html! { (number) " → " (text_markup(&pieces.join("|"))) }
}
