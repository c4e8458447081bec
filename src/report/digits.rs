//! The digit-scheme section, from `digits --json`: the tokenizers' digit coverage, the
//! text and arithmetic metrics per scheme as tables and charts, and the decimal probe.
//!
//! The JSON is read field by field with defaults, so a field added or missing later
//! leaves a dash in a cell rather than failing the report.

use anyhow::Result;
use maud::{html, Markup};
use serde_json::Value;

use super::html::{num, pct, text_markup};
use super::plots::{self, Series};
use super::{figure, legend, Section};

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => String::new(),
        Some(x) => x.to_string(),
    }
}

fn f(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

fn arr<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| a.as_slice())
        .unwrap_or(&[])
}

/// Distinct values of a key, in first-seen order.
fn distinct(rows: &[Value], k: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in rows {
        let x = s(r, k);
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// Scheme keys in the order the JSON lists them, with their labels.
fn schemes(d: &Value) -> Vec<(String, String)> {
    arr(d, "schemes")
        .iter()
        .map(|x| {
            let key = s(x, "key");
            let label = s(x, "label");
            (key.clone(), if label.is_empty() { key } else { label })
        })
        .collect()
}

/// Metrics of one section, per source: a table (tokenizer × scheme) and a chart of one
/// headline metric (schemes across, one bar per tokenizer).
fn metric_block(
    d: &Value,
    rows: &[Value],
    cols: &[(&str, &str, bool)],
    headline: (&str, &str),
) -> Result<Markup> {
    let schemes = schemes(d);
    let label = |k: &str| label_of(&schemes, k);
    let mut blocks = Vec::new();
    for src in distinct(rows, "source") {
        let sub: Vec<&Value> = rows.iter().filter(|r| s(r, "source") == src).collect();
        let owned: Vec<Value> = sub.iter().map(|v| (*v).clone()).collect();
        let toks = distinct(&owned, "tokenizer");
        let keys = distinct(&owned, "scheme");
        let series: Vec<Series> = toks
            .iter()
            .enumerate()
            .map(|(i, t)| Series {
                name: t.clone(),
                values: keys
                    .iter()
                    .map(|k| {
                        sub.iter()
                            .find(|r| s(r, "tokenizer") == *t && s(r, "scheme") == *k)
                            .map(|r| f(r, headline.0))
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
                                    td { (s(r, "tokenizer")) }
                                    td { (label(&s(r, "scheme"))) }
                                    @for (k, _, is_rate) in cols {
                                        td.n { (if *is_rate { pct(f(r, k)) } else { num(f(r, k)) }) }
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

pub(crate) fn section(d: &Value) -> Result<Section> {
    let toks = arr(d, "tokenizers");
    let schemes = schemes(d);
    let text = arr(d, "text");
    let arith = arr(d, "arith");
    let probe = arr(d, "probe");
    let text_block = metric_block(
        d,
        text,
        &[
            ("tokens_per_number", "tokens / number", false),
            ("digits_per_token", "digits / token", false),
            ("bytes_per_token", "bytes / token", false),
            ("tokens_per_word", "tokens / word", false),
            ("split_group_rate", "split groups", true),
        ],
        ("tokens_per_number", "tokens per number"),
    )?;
    let arith_block = metric_block(
        d,
        arith,
        &[
            ("aligned_rate", "aligned", true),
            ("answer_longer_rate", "answer longer", true),
            ("tokens_per_answer", "tokens / answer", false),
            ("tokens_per_operand", "tokens / operand", false),
        ],
        ("aligned_rate", "share of aligned answers"),
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
                            td { (s(t, "name")) }
                            td { (s(t, "format")) }
                            td.n { (s(t, "vocab_size")) }
                            @for c in arr(t, "coverage").iter().take(3) {
                                td.n { (s(c, "single")) " / " (s(c, "total")) }
                            }
                            td {
                                @if let Some(m) = t.get("expresses").and_then(Value::as_object) {
                                    @for (k, v) in m {
                                        @if v.as_bool() == Some(true) {
                                            (label_of(&schemes, k)) " "
                                        }
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
        @if !text.is_empty() {
            h3 { "Numbers in text" }
            (text_block)
        }
        @if !arith.is_empty() {
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
                            td { (s(p, "tokenizer")) }
                            td { (label_of(&schemes, &s(p, "scheme"))) }
                            td { (cut(p, "left")) }
                            td { (cut(p, "right")) }
                            td { (s(p, "fraction_aligned")) }
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
fn cut(p: &Value, side: &str) -> Markup {
    let pieces: Vec<String> = arr(p, &format!("{side}_cut"))
        .iter()
        .map(|x| x.as_str().unwrap_or("").to_string())
        .collect();
    html! { (s(p, side)) " → " (text_markup(&pieces.join("|"))) }
}
