//! Value against token id: a density grid for the bulk, points for the classes that matter.

use std::collections::HashSet;

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use plotters::style::colors::TRANSPARENT;

use super::common::*;

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
