//! The pause-token section: the ranking by measured disturbance, and the recommendation.

use anyhow::Result;
use maud::html;

use super::data::PauseData;
use super::html::{count, filter_box, num};
use super::plots::{self, Bar};
use super::{figure, Report, Section};

/// Bars in the KL chart.
const CHART_ROWS: usize = 15;

pub(crate) fn section(r: &Report, p: &PauseData) -> Result<Section> {
    let best = p.rows.iter().find(|x| x.recommended);
    let bars: Vec<Bar> = p
        .rows
        .iter()
        .take(CHART_ROWS)
        .map(|x| {
            let mut text = r.token_text(x.id);
            if text.chars().count() > 16 {
                text = text.chars().take(15).collect::<String>() + "…";
            }
            Bar {
                label: format!("{} “{}”", x.id, text),
                value: x.mean_kl,
                color: if x.passes() { plots::BLUE } else { plots::GREY },
            }
        })
        .collect();
    let chart = if bars.is_empty() {
        None
    } else {
        Some(plots::hbars(&bars, "mean KL (nats)", 720)?)
    };
    let body = html! {
        p.note {
            (count(p.rows.len())) " candidates, " (p.origin) ". A good pause token passes every check \
              (printable, unique, re-encodes to itself, absent from the chat template) and moves the \
              next-token distribution least (mean KL)."
        }
        @if let Some(b) = best {
            p { strong { "Recommended: " } "id " (b.id) " " (r.token(b.id, &b.decoded))
                " (" (b.source) ", mean KL " (num(b.mean_kl)) " nats)." }
        } @else {
            p { "No candidate passes every check." }
        }
        @if let Some(c) = chart {
            (figure(c, html! { "Mean KL divergence of the first " (bars.len()) " ranked candidates (grey: fails a check)." }))
        }
        (filter_box("pause-table", "candidates"))
        div.scroll {
            table #pause-table {
                thead { tr {
                    th.n { "rank" } th.n { "id" } th { "token" } th { "source" } th { "checks" }
                    th.n { "mean KL" } th.n { "max KL" } th.n { "ΔH (bits)" }
                } }
                tbody {
                    @for (i, x) in p.rows.iter().enumerate() {
                        tr class=[x.recommended.then_some("rec")] {
                            td.n { (i + 1) }
                            td.n { (x.id) }
                            td { (r.token(x.id, &x.decoded)) }
                            td { (x.source) }
                            td { @if x.passes() { "ok" } @else { "fails: " (x.failed.join(", ")) } }
                            td.n { (num(x.mean_kl)) }
                            td.n { (num(x.max_kl)) }
                            td.n { (num(x.entropy_delta)) }
                        }
                    }
                }
            }
        }
    };
    Ok(Section {
        id: "pause",
        title: "Pause-token ranking".into(),
        body,
    })
}
