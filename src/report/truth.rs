//! Ground truth, when training-token counts were given: how well each indicator tells
//! never-seen tokens (count 0) from seen ones, how good the candidate set is, and how
//! the verification verdicts line up with the counts.

use anyhow::Result;
use maud::html;

use super::data::ScanData;
use super::html::{count, num, pct};
use super::plots::{self, Bar, Bins, Histogram, Layer, VLine};
use super::{figure, legend, Report, Section};
use crate::indicators::stats::auc_low_is_positive;

pub(crate) fn section(r: &Report, s: &ScanData) -> Result<Section> {
    // The scored pool, as `scan` defines it: tokens that re-encode to themselves and
    // have a count.
    let pool: Vec<u32> = (0..s.rows as u32)
        .filter(|&i| {
            r.tokenizer
                .audit
                .token(i)
                .is_some_and(|t| t.category.is_ok())
        })
        .filter(|&i| s.count(i).is_some())
        .collect();
    let unseen: Vec<bool> = pool.iter().map(|&i| s.count(i) == Some(0)).collect();
    let n_unseen = unseen.iter().filter(|&&u| u).count();
    let aucs: Vec<(&'static str, f64)> = s
        .indicators
        .iter()
        .map(|(k, v)| {
            let scores: Vec<f64> = pool.iter().map(|&i| v[i as usize]).collect();
            (k.name(), auc_low_is_positive(&scores, &unseen))
        })
        .collect();
    let scored_cands: Vec<u32> = s
        .candidates
        .iter()
        .copied()
        .filter(|&i| s.count(i).is_some())
        .collect();
    let tp = scored_cands
        .iter()
        .filter(|&&i| s.count(i) == Some(0))
        .count();
    let ratio = |a: usize, b: usize| {
        if b == 0 {
            f64::NAN
        } else {
            a as f64 / b as f64
        }
    };
    let precision = ratio(tp, scored_cands.len());
    let recall = ratio(tp, n_unseen);

    let auc_chart = plots::hbars(
        &aucs
            .iter()
            .map(|(k, a)| Bar {
                label: k.to_string(),
                value: if a.is_finite() {
                    (a * 1000.0).round() / 1000.0
                } else {
                    0.0
                },
                color: if *k == s.main.name() {
                    plots::RED
                } else {
                    plots::BLUE
                },
            })
            .collect::<Vec<_>>(),
        "ROC AUC (0.5 = chance, 1 = perfect)",
        560,
    )?;
    let main = s.main_values();
    let seen_v: Vec<f64> = pool
        .iter()
        .zip(&unseen)
        .filter(|(_, &u)| !u)
        .map(|(&i, _)| main[i as usize])
        .collect();
    let unseen_v: Vec<f64> = pool
        .iter()
        .zip(&unseen)
        .filter(|(_, &u)| u)
        .map(|(&i, _)| main[i as usize])
        .collect();
    let bins = Bins::over(seen_v.iter().chain(&unseen_v), 70);
    let split_spec = Histogram {
        layers: vec![
            Layer {
                name: format!("seen in training ({})", seen_v.len()),
                counts: bins.count(&seen_v),
                color: plots::BLUE,
            },
            Layer {
                name: format!("never seen ({})", unseen_v.len()),
                counts: bins.count(&unseen_v),
                color: plots::RED,
            },
        ],
        bins,
        lines: if s.threshold.is_finite() {
            vec![VLine {
                x: s.threshold,
                name: "threshold".into(),
                color: plots::BLACK,
            }]
        } else {
            vec![]
        },
        rug: None,
        x_desc: s.main.name().to_string(),
        log_y: true,
        size: (560, 280),
    };
    let split = plots::histogram(&split_spec)?;

    // Verdicts against the counts.
    let verdicts = r.verify.as_ref().map(|v| {
        let names = [
            "strongly_under_trained",
            "under_trained",
            "unclear",
            "trained",
            "inconclusive",
        ];
        let mut m = vec![[0usize; 3]; names.len()];
        for row in &v.rows {
            let k = names
                .iter()
                .position(|n| *n == row.verdict.name())
                .unwrap_or(2);
            let c = match s.count(row.id) {
                Some(0) => 0,
                Some(_) => 1,
                None => 2,
            };
            m[k][c] += 1;
        }
        (names, m)
    });

    let body = html! {
        p.note {
            "Counts from " (s.counts_origin.clone().unwrap_or_else(|| "the training-token counts".into()))
            ". Scored: the " (count(pool.len())) " tokens that re-encode to themselves and have a count; "
            (count(n_unseen)) " of them were never seen in training (count 0)."
        }
        div.grid2 {
            div {
                table {
                    thead { tr { th { "indicator" } th.n { "ROC AUC" } } }
                    tbody {
                        @for (k, a) in &aucs {
                            tr { td { (k) @if *k == s.main.name() { " (main)" } } td.n { (num(*a)) } }
                        }
                    }
                }
                table {
                    thead { tr { th { "candidate set" } th.n { "" } } }
                    tbody {
                        tr { td { "candidates with a count" } td.n { (count(scored_cands.len())) } }
                        tr { td { "of them never seen" } td.n { (count(tp)) } }
                        tr { td { "precision" } td.n { (pct(precision)) } }
                        tr { td { "recall (of never-seen tokens)" } td.n { (pct(recall)) } }
                    }
                }
            }
            (figure(auc_chart, html! { "ROC AUC of “a low indicator means never seen”, per indicator (red: the main one)." }))
        }
        (figure(split, html! {
            (legend(&split_spec.keys()))
            (s.main.name()) " of the scored tokens, seen and never-seen apart (log count axis)."
        }))
        @if let Some((names, m)) = &verdicts {
            h3 { "Verification against the counts" }
            table {
                thead { tr { th { "verdict" } th.n { "never seen" } th.n { "seen" } th.n { "no count" } } }
                tbody {
                    @for (k, n) in names.iter().enumerate() {
                        tr {
                            td { span class={ "badge v-" (n) } { (n) } }
                            td.n { (m[k][0]) } td.n { (m[k][1]) } td.n { (m[k][2]) }
                        }
                    }
                }
            }
        }
    };
    Ok(Section {
        id: "truth",
        title: "Ground truth (training counts)".into(),
        body,
    })
}
