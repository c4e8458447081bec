//! The indicator section: each indicator's distribution with the threshold and the
//! candidates marked, each indicator against token id (blocks of reserved or never-used
//! rows show as bands), and the lowest candidates.

use anyhow::Result;
use maud::html;

use super::data::ScanData;
use super::html::{count, filter_box, num};
use super::plots::{self, Bins, Histogram, IdScatter, Layer, PointClass, VLine};
use super::{figure, legend, Report, Section};
use crate::audit::Category;
use crate::indicators::Indicator;

/// Histogram bins per indicator.
const BINS: usize = 80;
/// Candidates listed in the table.
const LOWEST: usize = 100;

/// How a row is drawn.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Candidate,
    Ok,
    Special,
    /// Unreachable, undecodeable, or an embedding row with no token.
    Unused,
}

fn classes(r: &Report, s: &ScanData) -> Vec<Class> {
    (0..s.rows as u32)
        .map(|id| {
            if s.is_candidate(id) {
                return Class::Candidate;
            }
            match r.tokenizer.audit.token(id).map(|t| t.category) {
                Some(Category::Ok) => Class::Ok,
                Some(Category::OkSpecial) | Some(Category::UnreachableSpecial) => Class::Special,
                _ => Class::Unused,
            }
        })
        .collect()
}

pub(crate) fn section(r: &Report, s: &ScanData) -> Result<Section> {
    let cls = classes(r, s);
    let main_vals = s.main_values();
    let mut charts = Vec::new();
    // Main indicator first.
    let mut order: Vec<Indicator> = vec![s.main];
    order.extend(
        s.indicators
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| *k != s.main),
    );
    for k in order {
        let Some(v) = s.values(k) else { continue };
        if !v.iter().any(|x| x.is_finite()) {
            continue;
        }
        let pick = |keep: &dyn Fn(Class) -> bool| -> Vec<f64> {
            v.iter()
                .zip(&cls)
                .filter(|(_, &x)| keep(x))
                .map(|(&y, _)| y)
                .collect()
        };
        let ok = pick(&|c| c == Class::Ok);
        let cand = pick(&|c| c == Class::Candidate);
        let other = pick(&|c| c == Class::Unused || c == Class::Special);
        let bins = Bins::over(v, BINS);
        let mut layers = vec![Layer {
            name: format!("OK tokens ({})", ok.len()),
            counts: bins.count(&ok),
            color: plots::BLUE,
        }];
        if !other.is_empty() {
            layers.push(Layer {
                name: format!("specials, unreachable, no token ({})", other.len()),
                counts: bins.count(&other),
                color: plots::GREEN,
            });
        }
        if !cand.is_empty() {
            layers.push(Layer {
                name: format!("candidates ({})", cand.len()),
                counts: bins.count(&cand),
                color: plots::RED,
            });
        }
        let is_main = k == s.main;
        let lines = if is_main && s.threshold.is_finite() {
            vec![VLine {
                x: s.threshold,
                name: format!("threshold {}", num(s.threshold)),
                color: plots::BLACK,
            }]
        } else {
            vec![]
        };
        let hist_spec = Histogram {
            bins,
            layers,
            lines,
            rug: (!cand.is_empty()).then_some((cand.as_slice(), plots::RED)),
            x_desc: k.name().to_string(),
            log_y: true,
            size: (560, 300),
        };
        let hist = plots::histogram(&hist_spec)?;
        let points = |c: Class| -> Vec<(f64, f64)> {
            v.iter()
                .zip(&cls)
                .enumerate()
                .filter(|(_, (_, &x))| x == c)
                .map(|(i, (&y, _))| (i as f64, y))
                .collect()
        };
        let (p_unused, p_special, p_cand) = (
            points(Class::Unused),
            points(Class::Special),
            points(Class::Candidate),
        );
        let mut pcs = Vec::new();
        for (name, color, pts) in [
            ("unreachable, broken, no token", plots::GREEN, &p_unused),
            ("specials", plots::PURPLE, &p_special),
            ("candidates", plots::RED, &p_cand),
        ] {
            if !pts.is_empty() {
                pcs.push(PointClass {
                    name: name.to_string(),
                    color,
                    points: pts,
                });
            }
        }
        let scatter_spec = IdScatter {
            values: v,
            classes: pcs,
            threshold: (is_main && s.threshold.is_finite())
                .then(|| (s.threshold, "threshold".to_string())),
            y_desc: k.name().to_string(),
            size: (1100, 300),
        };
        let scatter = plots::id_scatter(&scatter_spec)?;
        charts.push(html! {
            h3 { (k.name()) @if is_main { " (main indicator)" } }
            p.note { (k.describe()) ". Low values suggest an under-trained token." }
            (figure(hist, html! {
                (legend(&hist_spec.keys()))
                "Distribution of " (k.name()) " over all " (count(s.rows)) " rows (log count axis)"
                @if is_main { "; the black line is the candidate threshold" }
                "; red ticks under the axis mark the candidates."
            }))
            (figure(scatter, html! {
                (legend(&scatter_spec.keys()))
                (k.name()) " against token id: grey is the density of all rows, coloured points are drawn one by one \
                 (thinned to one per 2 pixels). Runs of reserved or never-used ids show as bands."
            }))
        });
    }

    let mut lowest = s.candidates.clone();
    lowest.sort_by(|&a, &b| {
        let va = main_vals.get(a as usize).copied().unwrap_or(f64::NAN);
        let vb = main_vals.get(b as usize).copied().unwrap_or(f64::NAN);
        va.total_cmp(&vb)
    });
    lowest.truncate(LOWEST);
    let verified = r.verify.as_ref().map(|v| v.by_id());
    let n_ok = r
        .tokenizer
        .audit
        .tokens
        .iter()
        .filter(|t| t.category.is_ok())
        .count();
    let body = html! {
        p.note { "Indicators " (s.origin) "." }
        table.kv {
            @for (k, v) in &s.facts { tr { th { (k) } td { (v) } } }
            tr { th { "main indicator" } td { (s.main.name()) } }
            tr { th { "threshold" } td {
                (num(s.threshold))
                @if let Some(p) = s.percentile { " (percentile " (p) " of the OK tokens)" }
                @else { " (the largest main-indicator value among the candidates)" }
            } }
            tr { th { "candidates" } td {
                (count(s.candidates.len())) " OK tokens at or below the threshold"
                @if n_ok > 0 {
                    " (" (format!("{:.2}", 100.0 * s.candidates.len() as f64 / n_ok as f64))
                    "% of the " (count(n_ok)) " OK tokens)"
                }
            } }
        }
        @for c in &charts { (c) }
        h3 { "Lowest candidates" }
        @if lowest.is_empty() {
            p { "No candidates." }
        } @else {
            p.note { "The " (lowest.len()) " candidates with the lowest " (s.main.name()) "." }
            (filter_box("candidates-table", "candidates"))
            div.scroll {
                table #candidates-table {
                    thead { tr {
                        th.n { "id" } th { "token" } th { "category" } th.n { (s.main.name()) }
                        @if s.counts.is_some() { th.n { "training count" } }
                        @if verified.is_some() { th { "verdict" } }
                    } }
                    tbody {
                        @for &id in &lowest {
                            tr {
                                td.n { (id) }
                                td { (r.token(id, "")) }
                                td { (r.category_name(id)) }
                                td.n { (num(main_vals.get(id as usize).copied().unwrap_or(f64::NAN))) }
                                @if s.counts.is_some() { td.n { (s.count(id).map(|c| c.to_string()).unwrap_or_default()) } }
                                @if let Some(v) = &verified {
                                    td { @if let Some(row) = v.get(&id) {
                                        span class={ "badge v-" (row.verdict.name()) } { (row.verdict.name()) }
                                    } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Section {
        id: "indicators",
        title: "Under-trained token indicators".into(),
        body,
    })
}
