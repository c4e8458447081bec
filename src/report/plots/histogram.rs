//! Histograms: equal-width bins, layers drawn over each other, threshold lines and a rug.

use std::collections::HashSet;

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::colors::TRANSPARENT;

use super::common::*;

/// Equal-width bins over `[lo, hi]`.
#[derive(Debug, Clone)]
pub struct Bins {
    pub lo: f64,
    pub hi: f64,
    pub n: usize,
}

impl Bins {
    /// Bins covering the finite values (at least one).
    pub fn over<'a>(values: impl IntoIterator<Item = &'a f64>, n: usize) -> Bins {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in values {
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if hi <= lo {
            let d = if lo == 0.0 { 0.5 } else { lo.abs() * 0.05 };
            (lo, hi) = (lo - d, hi + d);
        }
        Bins {
            lo,
            hi,
            n: n.max(1),
        }
    }
    pub fn width(&self) -> f64 {
        (self.hi - self.lo) / self.n as f64
    }
    pub fn index(&self, v: f64) -> Option<usize> {
        if !v.is_finite() {
            return None;
        }
        let i = ((v - self.lo) / self.width()).floor();
        Some((i.max(0.0) as usize).min(self.n - 1))
    }
    pub fn count<'a>(&self, values: impl IntoIterator<Item = &'a f64>) -> Vec<u64> {
        let mut c = vec![0u64; self.n];
        for &v in values {
            if let Some(i) = self.index(v) {
                c[i] += 1;
            }
        }
        c
    }
}

/// One layer of a histogram: the counts per bin of one group of values.
pub struct Layer {
    pub name: String,
    pub counts: Vec<u64>,
    pub color: RGBColor,
}

/// A vertical line across a chart (a threshold), with its legend name.
pub struct VLine {
    pub x: f64,
    pub name: String,
    pub color: RGBColor,
}

/// A histogram whose layers are drawn over each other (largest first), on a log count
/// axis when asked, with vertical lines and a rug of marked values under the axis.
pub struct Histogram<'a> {
    pub bins: Bins,
    pub layers: Vec<Layer>,
    pub lines: Vec<VLine>,
    /// Values marked individually as ticks along the bottom (e.g. the candidates).
    pub rug: Option<(&'a [f64], RGBColor)>,
    pub x_desc: String,
    pub log_y: bool,
    pub size: (u32, u32),
}

impl Histogram<'_> {
    /// The legend: layers, then lines, then the rug.
    pub fn keys(&self) -> Vec<Key> {
        let mut k: Vec<Key> = self
            .layers
            .iter()
            .map(|l| Key::area(l.name.clone(), l.color))
            .collect();
        k.extend(
            self.lines
                .iter()
                .map(|l| Key::line(l.name.clone(), l.color)),
        );
        k
    }
}

pub fn histogram(h: &Histogram) -> Result<String> {
    let max = h
        .layers
        .iter()
        .flat_map(|l| l.counts.iter())
        .copied()
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (x0, x1) = (h.bins.lo, h.bins.hi);
    let w = h.bins.width();
    svg(h.size, |root| {
        let x_fmt = |v: &f64| tick(*v);
        let y_fmt = |v: &f64| tick(*v);
        macro_rules! body {
            ($chart:expr, $base:expr, $ytop:expr) => {{
                let chart = &mut $chart;
                chart
                    .configure_mesh()
                    .light_line_style(TRANSPARENT)
                    .disable_x_mesh()
                    .x_desc(h.x_desc.as_str())
                    .y_desc(if h.log_y { "tokens (log)" } else { "tokens" })
                    .x_label_formatter(&x_fmt)
                    .y_label_formatter(&y_fmt)
                    .x_labels(8)
                    .label_style((FONT, LABEL))
                    .axis_desc_style((FONT, LABEL))
                    .draw()
                    .map_err(err)?;
                for l in &h.layers {
                    let color = l.color.mix(0.75);
                    chart
                        .draw_series(l.counts.iter().enumerate().filter(|(_, &c)| c > 0).map(
                            |(i, &c)| {
                                let a = x0 + i as f64 * w;
                                Rectangle::new([(a, $base), (a + w, c as f64)], color.filled())
                            },
                        ))
                        .map_err(err)?;
                }
                for v in &h.lines {
                    let color = v.color;
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(v.x, $base), (v.x, $ytop)],
                            color.stroke_width(2),
                        )))
                        .map_err(err)?;
                }
                if let Some((vals, color)) = h.rug {
                    // One tick per distinct pixel column.
                    let mut seen = HashSet::new();
                    let ticks: Vec<(i32, i32)> = vals
                        .iter()
                        .filter(|v| v.is_finite())
                        .map(|&v| chart.backend_coord(&(v, $base)))
                        .filter(|p| seen.insert(p.0))
                        .collect();
                    for (x, y) in ticks {
                        root.draw(&PathElement::new(
                            vec![(x, y - 7), (x, y - 1)],
                            color.stroke_width(1),
                        ))
                        .map_err(err)?;
                    }
                }
            }};
        }
        if h.log_y {
            let top = max * 3.0;
            let mut chart = ChartBuilder::on(root)
                .margin(8)
                .x_label_area_size(38)
                .y_label_area_size(52)
                .build_cartesian_2d(x0..x1, (0.7f64..top).log_scale())
                .map_err(err)?;
            body!(chart, 0.7, top);
        } else {
            let top = max * 1.08;
            let mut chart = ChartBuilder::on(root)
                .margin(8)
                .x_label_area_size(38)
                .y_label_area_size(52)
                .build_cartesian_2d(x0..x1, 0f64..top)
                .map_err(err)?;
            body!(chart, 0.0, top);
        }
        Ok(())
    })
}
