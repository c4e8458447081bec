//! The verification section: verdicts, the score distribution with the verdict
//! thresholds, and every verified token with its decoded text.

use anyhow::Result;
use maud::html;

use super::data::VerifyData;
use super::html::{count, filter_box, num};
use super::plots::{self, Bar, Bins, Histogram, Layer, VLine};
use super::{figure, legend, Report, Section};

/// Rows of the verified-token table.
const MAX_ROWS: usize = 3000;
/// Scores below this are drawn at it on the log axis.
const FLOOR: f64 = 1e-12;

const VERDICTS: [&str; 5] = [
    "strongly_under_trained",
    "under_trained",
    "unclear",
    "trained",
    "inconclusive",
];

pub(crate) fn section(r: &Report, v: &VerifyData) -> Result<Section> {
    let colors = [
        plots::RED,
        plots::ORANGE,
        plots::GREY,
        plots::GREEN,
        plots::SKY,
    ];
    let mut counts = [0usize; VERDICTS.len()];
    for row in &v.rows {
        if let Some(k) = VERDICTS.iter().position(|n| *n == row.verdict.name()) {
            counts[k] += 1;
        }
    }
    let verdict_chart = plots::hbars(
        &VERDICTS
            .iter()
            .zip(counts)
            .zip(colors)
            .map(|((n, c), color)| Bar {
                label: n.to_string(),
                value: c as f64,
                color,
            })
            .collect::<Vec<_>>(),
        "tokens",
        560,
    )?;
    let logs: Vec<f64> = v
        .rows
        .iter()
        .map(|x| (x.score as f64).max(FLOOR).log10())
        .collect();
    let t = &v.thresholds;
    let lines: Vec<VLine> = [
        (t.strong, "strongly under-trained below"),
        (t.under, "under-trained below"),
        (t.trained, "trained above"),
    ]
    .iter()
    .map(|(x, name)| VLine {
        x: (*x as f64).log10(),
        name: format!("{name} {x}"),
        color: plots::BLACK,
    })
    .collect();
    let bins = Bins::over(
        logs.iter()
            .chain(lines.iter().map(|l| &l.x))
            .collect::<Vec<_>>(),
        60,
    );
    let score_chart_spec = Histogram {
        layers: VERDICTS
            .iter()
            .zip(colors)
            .map(|(n, color)| {
                let vals: Vec<f64> = v
                    .rows
                    .iter()
                    .zip(&logs)
                    .filter(|(x, _)| x.verdict.name() == *n)
                    .map(|(_, l)| *l)
                    .collect();
                Layer {
                    name: n.to_string(),
                    counts: bins.count(&vals),
                    color,
                }
            })
            .filter(|l| l.counts.iter().any(|&c| c > 0))
            .collect(),
        bins,
        lines,
        rug: None,
        x_desc: "log10(score)".into(),
        log_y: false,
        size: (560, 300),
    };
    let score_chart = plots::histogram(&score_chart_spec)?;
    let mut rows: Vec<_> = v.rows.iter().collect();
    rows.sort_by(|a, b| a.score.total_cmp(&b.score).then(a.id.cmp(&b.id)));
    let shown = rows.len().min(MAX_ROWS);
    let scan = r.scan.as_ref();
    let body = html! {
        p.note {
            (count(v.rows.len())) " tokens verified, " (v.origin) "."
            @if let Some((secs, tps)) = v.timing { " " (num(secs)) " s (" (num(tps)) " tokens/s)." }
            " The score is the highest probability the model gave the token when asked to repeat it \
              (the maximum over the prompts " (v.prompts.join(", ")) ")."
        }
        div.grid2 {
            (figure(verdict_chart, html! { "Verdicts." }))
            (figure(score_chart, html! { (legend(&score_chart_spec.keys())) "Scores on a log axis, by verdict, with the verdict thresholds." }))
        }
        h3 { "Verified tokens" }
        p.note {
            "Lowest score first" @if shown < rows.len() { "; the first " (shown) " of " (rows.len()) } "."
            @if v.rows.iter().any(|x| x.bound) {
                " ≤: an upper bound (the token was not among the serving engine's top \
                  log-probabilities); " code { "inconclusive" } " where it does not decide the verdict."
            }
        }
        (filter_box("verified-table", "verified tokens"))
        div.scroll {
            table #verified-table {
                thead { tr {
                    th.n { "id" } th { "token" } th.n { "score" } th { "verdict" }
                    @for p in &v.prompts { th.n { (p) } }
                    @if let Some(s) = scan { th.n { (s.main.name()) } @if s.counts.is_some() { th.n { "count" } } }
                } }
                tbody {
                    @for x in rows.iter().take(shown) {
                        tr {
                            td.n { (x.id) }
                            td { (r.token(x.id, &x.decoded)) }
                            td.n { @if x.bound { "≤ " } (num(x.score as f64)) }
                            td { span class={ "badge v-" (x.verdict.name()) } { (x.verdict.name()) } }
                            @for p in &x.prompt_scores { td.n { (p.map(|p| num(p as f64)).unwrap_or_default()) } }
                            @if let Some(s) = scan {
                                td.n { (num(s.main_values().get(x.id as usize).copied().unwrap_or(f64::NAN))) }
                                @if s.counts.is_some() { td.n { (s.count(x.id).map(|c| c.to_string()).unwrap_or_default()) } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Section {
        id: "verification",
        title: "Verification".into(),
        body,
    })
}
