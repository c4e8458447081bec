//! Bar charts: horizontal bars with values (category counts) and grouped vertical bars
//! (one cluster per group, one bar per series).

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::colors::TRANSPARENT;

use super::common::*;
use crate::report::html::num;

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
