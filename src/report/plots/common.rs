//! What every chart shares: the colours, the font, the SVG canvas, tick labels, value
//! ranges and the legend entries the page draws in HTML.

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
pub use plotters::style::{RGBColor, BLACK};

use crate::report::html::num;

/// Okabe–Ito colours: distinguishable with the common colour-vision deficiencies.
pub const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
pub const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
pub const RED: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
pub const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
pub const SKY: RGBColor = RGBColor(0x56, 0xB4, 0xE9);
pub const PURPLE: RGBColor = RGBColor(0xCC, 0x79, 0xA7);
pub const GREY: RGBColor = RGBColor(0x60, 0x60, 0x60);
pub const PALETTE: [RGBColor; 6] = [BLUE, ORANGE, GREEN, PURPLE, SKY, RED];

pub(super) const FONT: &str = "sans-serif";
/// Label size as plotters takes it (it writes about 0.8 of this as the SVG font size).
pub(super) const LABEL: u32 = 16;

pub(super) fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a chart: {e:?}")
}

/// Draw into a fresh SVG string of the given size.
pub(super) fn svg(
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
pub(super) fn tick(v: f64) -> String {
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
pub(super) fn padded(lo: f64, hi: f64) -> (f64, f64) {
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
