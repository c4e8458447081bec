//! The tokenizer section: what was loaded, the published summary counts, categories and
//! byte kinds as charts, and every token that is not OK in a searchable table.

use anyhow::Result;
use maud::html;

use super::html::{count, filter_box};
use super::plots::{self, Bar};
use super::{figure, Report, Section};
use crate::audit::Category;

/// Rows of the flagged-token table; past this the table says how many were left out
/// (they are all in `audit --csv`).
pub const MAX_FLAGGED: usize = 5000;

fn category_color(c: Category) -> plots::RGBColor {
    match c {
        Category::Ok => plots::BLUE,
        Category::OkSpecial => plots::SKY,
        Category::UnreachableSpecial => plots::PURPLE,
        Category::Undecodeable => plots::RED,
        Category::UnreachableSingle => plots::ORANGE,
        Category::UnreachableMulti => plots::GREEN,
    }
}

fn category_help(c: Category) -> &'static str {
    match c {
        Category::Ok => "decodes to text that encodes back to the same single id",
        Category::OkSpecial => "a declared special token that round-trips",
        Category::UnreachableSpecial => {
            "looks like a special token (<…>, […]) but text never produces it"
        }
        Category::Undecodeable => "decodes to broken UTF-8 (a partial character)",
        Category::UnreachableSingle => "its text encodes to one other id",
        Category::UnreachableMulti => "its text encodes to several ids: never produced from text",
    }
}

pub(crate) fn section(r: &Report) -> Result<Section> {
    let t = &r.tokenizer;
    let a = &t.audit;
    let bars: Vec<Bar> = Category::ALL
        .iter()
        .map(|&c| Bar {
            label: c.name().to_string(),
            value: a.categories.get(c.name()).copied().unwrap_or(0) as f64,
            color: category_color(c),
        })
        .collect();
    let cat_chart = plots::hbars(&bars, "tokens", 560)?;
    let kinds = [
        ("ascii", plots::BLUE),
        ("utf8", plots::ORANGE),
        ("unused_utf8", plots::RED),
    ];
    let kind_chart = if a.counts.bytes > 0 {
        Some(plots::hbars(
            &kinds
                .iter()
                .map(|(k, c)| Bar {
                    label: k.to_string(),
                    value: a.byte_kinds.get(k).copied().unwrap_or(0) as f64,
                    color: *c,
                })
                .collect::<Vec<_>>(),
            "byte tokens",
            560,
        )?)
    } else {
        None
    };
    let flagged: Vec<_> = a.tokens.iter().filter(|x| !x.category.is_ok()).collect();
    let shown = flagged.len().min(MAX_FLAGGED);
    let body = html! {
        table.kv {
            tr { th { "tokenizer" } td { (t.source) } }
            tr { th { "format" } td { (t.format) " (" (t.detail) ")" } }
            tr { th { "vocabulary size" } td {
                (count(a.vocab_size)) " ids"
                @if a.holes > 0 { " (" (count(a.holes)) " unassigned)" }
            } }
            tr { th { "byte-level" } td { @if a.byte_level { "yes" } @else { "no" } } }
            tr { th { "leading-space guard" } td {
                @match a.guard { Some(g) => span.tok { (g) }, None => "none" }
            } }
            tr { th { "declared special ids" } td { (count(t.special_ids)) } }
        }
        h3 { "Summary counts" }
        p.note { "As the published tables count them: bytes and specials from the raw vocabulary; \
                  unreachable and partial UTF-8 among the remaining tokens." }
        table {
            thead { tr { th { "count" } th.n { "tokens" } th { "detail" } } }
            tbody {
                tr { td { "bytes" } td.n { (count(a.counts.bytes)) } td {
                    @for (k, _) in &kinds { (k) " " (a.byte_kinds.get(k).copied().unwrap_or(0)) "  " }
                } }
                tr { td { "special" } td.n { (count(a.counts.special)) } td { "raw <…> or […] with a letter" } }
                tr { td { "unreachable" } td.n { (count(a.counts.unreachable)) } td { "text never encodes to them" } }
                tr { td { "partial UTF-8" } td.n { (count(a.counts.partial_utf8)) } td { "decode to broken UTF-8" } }
            }
        }
        div.grid2 {
            (figure(cat_chart, html! { "Tokens per audit category." }))
            @if let Some(k) = kind_chart {
                (figure(k, html! { "Byte tokens by the kind of byte (unused_utf8: bytes valid UTF-8 never contains)." }))
            }
        }
        table {
            thead { tr { th { "category" } th.n { "tokens" } th { "meaning" } } }
            tbody {
                @for c in Category::ALL {
                    tr { td { (c.name()) } td.n { (count(a.categories.get(c.name()).copied().unwrap_or(0))) } td { (category_help(c)) } }
                }
            }
        }
        h3 { "Unreachable and partial-UTF-8 tokens" }
        @if flagged.is_empty() {
            p { "Every token decodes to text that encodes back to itself." }
        } @else {
            p.note {
                (count(flagged.len())) " tokens are not OK"
                @if shown < flagged.len() { "; the first " (count(shown)) " are listed (all are in " code { "audit --csv" } ")" }
                ". Decoded text is shown with invisible characters escaped and bytes of broken UTF-8 as "
                span.tok { span.esc { "<0xNN>" } } "."
            }
            (filter_box("flagged-table", "tokens"))
            div.scroll {
                table #flagged-table {
                    thead { tr {
                        th.n { "id" } th { "raw entry" } th { "decodes to" } th { "category" }
                        th { "kind" } th { "re-encodes as" }
                    } }
                    tbody {
                        @for x in flagged.iter().take(shown) {
                            tr {
                                td.n { (x.id) }
                                td { (super::html::text_markup(&x.raw)) }
                                td { (r.token(x.id, &x.decoded)) }
                                td { (x.category.name()) }
                                td { @if x.byte.is_some() { "byte" } @else if x.is_special { "special" } }
                                td { (reencoded(&x.reencoded)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Section {
        id: "tokenizer",
        title: "Tokenizer".into(),
        body,
    })
}

/// Re-encoded ids, the first few.
fn reencoded(ids: &[u32]) -> String {
    const SHOW: usize = 8;
    let mut s: Vec<String> = ids.iter().take(SHOW).map(|i| i.to_string()).collect();
    if ids.len() > SHOW {
        s.push(format!("… ({} ids)", ids.len()));
    }
    s.join(" ")
}
