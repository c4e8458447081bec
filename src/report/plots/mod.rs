//! Charts as inline SVG, drawn with plotters' SVG backend (axes, ticks, labels and text
//! escaping come from it). Every chart is built from data already reduced to what is
//! drawn (bins, bars, a bounded number of points), so a 128k-row vocabulary gives charts
//! of a few tens of kilobytes.
//!
//! One file per chart kind; [`common`] holds the styling they share.

mod bars;
mod common;
mod histogram;
mod scatter;

pub use bars::{grouped_bars, hbars, Bar, Series};
pub use common::{Key, RGBColor, BLACK, BLUE, GREEN, GREY, ORANGE, PALETTE, PURPLE, RED, SKY};
pub use histogram::{histogram, Bins, Histogram, Layer, VLine};
pub use scatter::{id_scatter, IdScatter, PointClass};

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
