//! Charts as inline SVG, drawn with plotters' SVG backend (axes, ticks, labels and text
//! escaping come from it). Every chart is built from data already reduced to what is
//! drawn (bins, bars, a bounded number of points), so a 128k-row vocabulary gives charts
//! of a few tens of kilobytes.

use std::collections::HashSet;

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::TRANSPARENT;
pub use plotters::style::{RGBColor, BLACK};

use super::html::num;

/// Okabe–Ito colours: distinguishable with the common colour-vision deficiencies.
pub const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
pub const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
pub const RED: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
pub const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
pub const SKY: RGBColor = RGBColor(0x56, 0xB4, 0xE9);
pub const PURPLE: RGBColor = RGBColor(0xCC, 0x79, 0xA7);
pub const GREY: RGBColor = RGBColor(0x60, 0x60, 0x60);
pub const PALETTE: [RGBColor; 6] = [BLUE, ORANGE, GREEN, PURPLE, SKY, RED];

const FONT: &str = "sans-serif";
/// Label size as plotters takes it (it writes about 0.8 of this as the SVG font size).
const LABEL: u32 = 16;

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
}

/// Draw into a fresh SVG string of the given size.
fn svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>,
) -> Result<String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(buf)
}

/// Short axis labels.
fn tick(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e6).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 1000.0 && v == v.trunc() {
        if a >= 10_000.0 {
            format!("{}k", (v / 1000.0).round() as i64)
        } else {
            format!("{}", v as i64)
        }
    } else {
        let t = num(v);
        if t.contains('.') && !t.contains('e') {
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            t
        }
    }
}

/// A value range with a little room on both sides; a single value gets a unit range.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if hi <= lo {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.05 };
        return (lo - d, hi + d);
    }
    let d = (hi - lo) * 0.03;
    (lo - d, hi + d)
}

/// One entry of a chart's legend, which the page shows in HTML under the chart (inside
/// the plot it would cover data).
#[derive(Debug, Clone)]
pub struct Key {
    pub name: String,
    pub color: RGBColor,
    /// A line (threshold) rather than a filled area or points.
    pub line: bool,
}

impl Key {
    pub fn area(name: impl Into<String>, color: RGBColor) -> Key {
        Key {
            name: name.into(),
            color,
            line: false,
        }
    }
    pub fn line(name: impl Into<String>, color: RGBColor) -> Key {
        Key {
            name: name.into(),
            color,
            line: true,
        }
    }
}

/// One horizontal bar of [`hbars`].
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub color: RGBColor,
}

/// Horizontal bars with their values written at the end; a log axis when the values
/// span more than two decades (so a category of 3 still shows beside one of 100 000).
pub fn hbars(bars: &[Bar], x_desc: &str, width: u32) -> Result<String> {
    let n = bars.len().max(1);
    let height = 60 + 26 * n as u32;
    let max = bars.iter().map(|b| b.value).fold(0f64, f64::max).max(1.0);
    let min_pos = bars
        .iter()
        .map(|b| b.value)
        .filter(|&v| v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let log = min_pos.is_finite() && max / min_pos > 100.0;
    let label_w = bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(4) as u32
        * 8
        + 16;
    svg((width, height), |root| {
        // Top bar first: segment n-1-i is bar i.
        let y_fmt = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) if *i < n => bars
                .get(n - 1 - i)
                .map(|b| b.label.clone())
                .unwrap_or_default(),
            _ => String::new(),
        };
        let x_fmt = |v: &f64| tick(*v);
        let draw_bars = |pos: &dyn Fn(f64, usize) -> (i32, i32), base: f64| -> Result<()> {
            for (i, b) in bars.iter().enumerate() {
                let seg = n - 1 - i;
                let (x0, yc) = pos(base, seg);
                let (x1, _) = pos(b.value.max(base), seg);
                if b.value > 0.0 {
                    root.draw(&Rectangle::new(
                        [(x0, yc - 8), (x1.max(x0 + 1), yc + 8)],
                        b.color.filled(),
                    ))
                    .map_err(err)?;
                }
                root.draw(&Text::new(
                    num(b.value),
                    (x1.max(x0) + 4, yc - 6),
                    (FONT, LABEL).into_font(),
                ))
                .map_err(err)?;
            }
            Ok(())
        };
        if log {
            let mut chart = ChartBuilder::on(root)
                .margin(8)
                .margin_right(60)
                .x_label_area_size(36)
                .y_label_area_size(label_w)
                .build_cartesian_2d((0.5f64..max * 1.5).log_scale(), (0..n - 1).into_segmented())
                .map_err(err)?;
            chart
                .configure_mesh()
                .light_line_style(TRANSPARENT)
                .disable_y_mesh()
                .x_desc(format!("{x_desc} (log scale)"))
                .x_label_formatter(&x_fmt)
                .y_label_formatter(&y_fmt)
                .label_style((FONT, LABEL))
                .axis_desc_style((FONT, LABEL))
                .draw()
                .map_err(err)?;
            draw_bars(
                &|v, s| chart.backend_coord(&(v, SegmentValue::CenterOf(s))),
                0.5,
            )?;
        } else {
            let mut chart = ChartBuilder::on(root)
                .margin(8)
                .margin_right(60)
                .x_label_area_size(36)
                .y_label_area_size(label_w)
                .build_cartesian_2d(0f64..max * 1.05, (0..n - 1).into_segmented())
                .map_err(err)?;
            chart
                .configure_mesh()
                .light_line_style(TRANSPARENT)
                .disable_y_mesh()
                .x_desc(x_desc)
                .x_label_formatter(&x_fmt)
                .y_label_formatter(&y_fmt)
                .label_style((FONT, LABEL))
                .axis_desc_style((FONT, LABEL))
                .draw()
                .map_err(err)?;
            draw_bars(
                &|v, s| chart.backend_coord(&(v, SegmentValue::CenterOf(s))),
                0.0,
            )?;
        }
        Ok(())
    })
}

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

/// A class of points drawn individually over a density scatter.
pub struct PointClass<'a> {
    pub name: String,
    pub color: RGBColor,
    /// (x, y) points; thinned to one per few pixels before drawing.
    pub points: &'a [(f64, f64)],
}

/// Value against token id for every row: the bulk as a grey density grid (one cell per
/// few ids and a fraction of the value range, darker where more rows fall), the
/// classes that matter as coloured points, and optionally a horizontal threshold.
pub struct IdScatter<'a> {
    pub values: &'a [f64],
    pub classes: Vec<PointClass<'a>>,
    pub threshold: Option<(f64, String)>,
    pub y_desc: String,
    pub size: (u32, u32),
}

/// Density grid resolution of [`id_scatter`].
const GRID_X: usize = 240;
const GRID_Y: usize = 60;
/// Points of one class closer than this many pixels are drawn once.
const THIN_PX: i32 = 2;
/// Grey levels of the density grid.
const LEVELS: usize = 6;
/// A colour no chart uses: marks where the data layer goes in plotters' output.
const SENTINEL: RGBColor = RGBColor(0x01, 0x02, 0x03);

/// A linear map from data to pixel coordinates, read off a chart's corners.
#[derive(Clone, Copy)]
struct PixelMap {
    x0: f64,
    y0: f64,
    sx: f64,
    sy: f64,
    vx0: f64,
    vy0: f64,
}

impl PixelMap {
    fn px(&self, x: f64, y: f64) -> (f64, f64) {
        (
            self.x0 + (x - self.vx0) * self.sx,
            self.y0 + (y - self.vy0) * self.sy,
        )
    }
}

impl IdScatter<'_> {
    pub fn keys(&self) -> Vec<Key> {
        let mut k = vec![Key::area("all rows (density)", GREY)];
        k.extend(
            self.classes
                .iter()
                .map(|c| Key::area(format!("{} ({})", c.name, c.points.len()), c.color)),
        );
        if let Some((_, name)) = &self.threshold {
            k.push(Key::line(name.clone(), BLACK));
        }
        k
    }
}

pub fn id_scatter(s: &IdScatter) -> Result<String> {
    use std::fmt::Write as _;
    let n = s.values.len().max(1);
    let (lo, hi) = {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in s.values {
            if v.is_finite() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        padded(lo, hi)
    };
    let cell_x = (n as f64 / GRID_X as f64).max(1.0);
    let gx = ((n as f64 / cell_x).ceil() as usize).max(1);
    let cell_y = (hi - lo) / GRID_Y as f64;
    let mut grid = vec![0u32; gx * GRID_Y];
    for (i, &v) in s.values.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        let cx = ((i as f64 / cell_x) as usize).min(gx - 1);
        let cy = (((v - lo) / cell_y) as usize).min(GRID_Y - 1);
        grid[cy * gx + cx] += 1;
    }
    let max_cell = grid.iter().copied().max().unwrap_or(1).max(1) as f64;
    let mut map: Option<PixelMap> = None;
    let chart_svg = svg(s.size, |root| {
        let x_fmt = |v: &f64| tick(*v);
        let y_fmt = |v: &f64| tick(*v);
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .margin_right(16)
            .x_label_area_size(38)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..n as f64, lo..hi)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .disable_mesh()
            .x_desc("token id")
            .y_desc(s.y_desc.as_str())
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_labels(10)
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, LABEL))
            .draw()
            .map_err(err)?;
        // The grid and the points are written below as compact paths (one per grey
        // level and one per class) in place of this marker: plotters would write one
        // element per cell, several hundred kilobytes for a large vocabulary.
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, lo), (0.0, lo)],
                SENTINEL.filled(),
            )))
            .map_err(err)?;
        let (a, b) = (
            chart.backend_coord(&(0.0, lo)),
            chart.backend_coord(&(n as f64, hi)),
        );
        map = Some(PixelMap {
            x0: a.0 as f64,
            y0: a.1 as f64,
            sx: (b.0 - a.0) as f64 / n as f64,
            sy: (b.1 - a.1) as f64 / (hi - lo),
            vx0: 0.0,
            vy0: lo,
        });
        if let Some((t, _)) = &s.threshold {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(0.0, *t), (n as f64, *t)],
                    BLACK.stroke_width(1),
                )))
                .map_err(err)?;
        }
        Ok(())
    })?;
    let map = map.ok_or_else(|| anyhow!("drawing a chart: no plotting area"))?;

    // Density: one path per grey level; cell edges rounded once so cells tile exactly.
    let xe: Vec<i64> = (0..=gx)
        .map(|k| map.px((k as f64 * cell_x).min(n as f64), lo).0.round() as i64)
        .collect();
    let ye: Vec<i64> = (0..=GRID_Y)
        .map(|k| map.px(0.0, lo + k as f64 * cell_y).1.round() as i64)
        .collect();
    let mut paths = vec![String::new(); LEVELS];
    for (k, &c) in grid.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let (cx, cy) = (k % gx, k / gx);
        let level = ((c as f64).ln_1p() / max_cell.ln_1p() * LEVELS as f64)
            .ceil()
            .clamp(1.0, LEVELS as f64) as usize;
        let (x, w) = (xe[cx], (xe[cx + 1] - xe[cx]).max(1));
        let (y, h) = (ye[cy + 1], (ye[cy] - ye[cy + 1]).max(1));
        let _ = write!(paths[level - 1], "M{x} {y}h{w}v{h}h-{w}z");
    }
    let mut layer = String::from("<g shape-rendering=\"crispEdges\">\n");
    for (i, d) in paths.iter().enumerate() {
        if d.is_empty() {
            continue;
        }
        let shade = 215 - (i as u32 + 1) * 30;
        let _ = writeln!(
            layer,
            "<path fill=\"#{shade:02X}{shade:02X}{shade:02X}\" d=\"{d}\"/>"
        );
    }
    for c in &s.classes {
        let mut seen = HashSet::new();
        let mut d = String::new();
        for &(x, y) in c.points {
            if !y.is_finite() {
                continue;
            }
            let (px, py) = map.px(x, y);
            let (px, py) = (px.round() as i32, py.round() as i32);
            if seen.insert((px / THIN_PX, py / THIN_PX)) {
                let _ = write!(d, "M{} {}h3v3h-3z", px - 1, py - 1);
            }
        }
        if !d.is_empty() {
            let RGBColor(r, g, b) = c.color;
            let _ = writeln!(
                layer,
                "<path fill=\"#{r:02X}{g:02X}{b:02X}\" fill-opacity=\"0.85\" d=\"{d}\"/>"
            );
        }
    }
    layer.push_str("</g>");
    // Put the layer where the marker is (under the threshold line and the legend).
    let mut out = String::with_capacity(chart_svg.len() + layer.len());
    let mut placed = false;
    for line in chart_svg.split_inclusive('\n') {
        if !placed && line.contains("#010203") {
            out.push_str(&layer);
            out.push('\n');
            placed = true;
        } else {
            out.push_str(line);
        }
    }
    if !placed {
        let end = out.rfind("</svg>").unwrap_or(out.len());
        out.insert_str(end, &layer);
    }
    Ok(out)
}

/// One series of [`grouped_bars`]: a value per group (NaN: no bar).
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
    pub color: RGBColor,
}

/// Vertical bars, one cluster per group, one bar per series in each cluster (the
/// legend is left to the page: see `report::legend`).
pub fn grouped_bars(
    groups: &[String],
    series: &[Series],
    y_desc: &str,
    y_max: Option<f64>,
    size: (u32, u32),
) -> Result<String> {
    let g = groups.len().max(1);
    let max = y_max.unwrap_or_else(|| {
        series
            .iter()
            .flat_map(|s| s.values.iter())
            .copied()
            .filter(|v| v.is_finite())
            .fold(0f64, f64::max)
            .max(1e-9)
            * 1.12
    });
    svg(size, |root| {
        let x_fmt = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) => groups.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        let y_fmt = |v: &f64| tick(*v);
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(52)
            .build_cartesian_2d((0..g - 1).into_segmented(), 0f64..max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .disable_x_mesh()
            .y_desc(y_desc)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style((FONT, LABEL))
            .axis_desc_style((FONT, LABEL))
            .draw()
            .map_err(err)?;
        let k = series.len().max(1) as i32;
        for (gi, _) in groups.iter().enumerate() {
            let (left, base) = chart.backend_coord(&(SegmentValue::Exact(gi), 0.0));
            let (center, _) = chart.backend_coord(&(SegmentValue::CenterOf(gi), 0.0));
            let span = (2 * (center - left)).max(k * 3);
            let bw = (span * 8 / 10 / k).max(2);
            let start = left + (span - bw * k) / 2;
            for (si, s) in series.iter().enumerate() {
                let v = s.values.get(gi).copied().unwrap_or(f64::NAN);
                if !v.is_finite() {
                    continue;
                }
                let (_, top) = chart.backend_coord(&(SegmentValue::Exact(gi), v.min(max)));
                let x = start + bw * si as i32;
                root.draw(&Rectangle::new(
                    [(x, top.min(base - 1)), (x + bw - 1, base)],
                    s.color.filled(),
                ))
                .map_err(err)?;
            }
        }
        // The legend is the caller's, in HTML under the chart: inside, it would cover bars.
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_the_range() {
        let v = [0.0, 0.5, 1.0, f64::NAN];
        let b = Bins::over(&v, 4);
        assert_eq!(b.count(&v), vec![1, 0, 1, 1]);
        let one = Bins::over(&[3.0], 10);
        assert!(one.lo < 3.0 && one.hi > 3.0);
    }

    #[test]
    fn charts_are_svg_and_escape_labels() {
        let s = hbars(
            &[
                Bar {
                    label: "<b>".into(),
                    value: 100000.0,
                    color: BLUE,
                },
                Bar {
                    label: "x".into(),
                    value: 3.0,
                    color: RED,
                },
            ],
            "tokens",
            500,
        )
        .unwrap();
        assert!(s.starts_with("<svg"));
        assert!(s.contains("&lt;b&gt;") && !s.contains("<b>"));
        let values: Vec<f64> = (0..1000).map(|i| (i as f64).sin()).collect();
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, values[i])).collect();
        let sc = id_scatter(&IdScatter {
            values: &values,
            classes: vec![PointClass {
                name: "c".into(),
                color: RED,
                points: &pts,
            }],
            threshold: Some((0.0, "t".into())),
            y_desc: "v".into(),
            size: (800, 300),
        })
        .unwrap();
        assert!(sc.contains("<path") && !sc.contains("#010203"));
        let b = Bins::over(&values, 20);
        let h = histogram(&Histogram {
            layers: vec![Layer {
                name: "all".into(),
                counts: b.count(&values),
                color: BLUE,
            }],
            bins: b,
            lines: vec![VLine {
                x: 0.1,
                name: "t".into(),
                color: BLACK,
            }],
            rug: Some((&values[..5], RED)),
            x_desc: "v".into(),
            log_y: true,
            size: (500, 260),
        })
        .unwrap();
        assert!(h.contains("<rect"));
        let g = grouped_bars(
            &["a".into(), "b".into()],
            &[Series {
                name: "s".into(),
                values: vec![1.0, f64::NAN],
                color: BLUE,
            }],
            "y",
            None,
            (400, 240),
        )
        .unwrap();
        assert!(g.contains("<rect"));
    }
}
