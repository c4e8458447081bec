//! The page itself: its shell (style, the small filter script), number formatting, and
//! token text made safe and visible.
//!
//! Everything is written through maud, which escapes every string it is given; only our
//! own constants (style, script) and the SVG the plotting module builds go in unescaped.
//! Token text additionally goes through [`token_segments`], so invisible and
//! layout-changing characters and broken UTF-8 show as escapes (`\u{200b}`, `<0xED>`)
//! drawn in a distinct style, never as what they would do to the page.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::audit::TokenAudit;
use crate::util::escape::visible;
use crate::vocab::bytelevel;

/// One piece of a token's display: literal text, or an escape standing for something
/// that cannot be shown as itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    Escape(String),
}

fn push_text(out: &mut Vec<Segment>, s: &str) {
    if let Some(Segment::Text(t)) = out.last_mut() {
        t.push_str(s);
    } else {
        out.push(Segment::Text(s.to_string()));
    }
}

/// Split valid text into literal runs and escapes, with the same rules as the CSV
/// outputs ([`visible`]): `\n`, `\t`, `\r`, `\\`, and `\u{…}` for controls (NUL
/// included), zero-width characters, bidi marks and overrides, BOM, variation selectors.
pub fn text_segments(s: &str, out: &mut Vec<Segment>) {
    let mut buf = [0u8; 4];
    for c in s.chars() {
        let one: &str = c.encode_utf8(&mut buf);
        let v = visible(one);
        if v == one {
            push_text(out, one);
        } else {
            out.push(Segment::Escape(v));
        }
    }
}

/// Segments of raw bytes: valid UTF-8 runs as text, every byte of an invalid sequence
/// (a partial character, a lone surrogate's encoding such as ED A0 80) as `<0xNN>`.
pub fn byte_segments(bytes: &[u8]) -> Vec<Segment> {
    let mut out = Vec::new();
    for chunk in bytes.utf8_chunks() {
        text_segments(chunk.valid(), &mut out);
        for b in chunk.invalid() {
            out.push(Segment::Escape(format!("<0x{b:02X}>")));
        }
    }
    out
}

/// The bytes a token stands for, when the raw entry says so exactly: byte-level BPE
/// strings map back through the GPT-2 table, SentencePiece byte pieces are `<0xNN>`.
pub fn token_bytes(raw: &str, byte_level: bool) -> Option<Vec<u8>> {
    if raw.len() == 6 && raw.starts_with("<0x") && raw.ends_with('>') {
        return u8::from_str_radix(&raw[3..5], 16).ok().map(|b| vec![b]);
    }
    if byte_level {
        return bytelevel::string_to_bytes(raw);
    }
    None
}

/// What a token decodes to, for display: its bytes when they are not valid UTF-8 (so a
/// partial character shows as `<0xE2>` rather than a replacement character), otherwise
/// the decoded text.
pub fn token_display(t: &TokenAudit, byte_level: bool) -> Vec<Segment> {
    if t.decoded.contains('\u{FFFD}') {
        if let Some(b) = token_bytes(&t.raw, byte_level) {
            if std::str::from_utf8(&b).is_err() {
                return byte_segments(&b);
            }
        }
    }
    let mut out = Vec::new();
    text_segments(&t.decoded, &mut out);
    out
}

/// Plain-text form of segments (for charts' labels and tests).
pub fn segments_string(segs: &[Segment]) -> String {
    segs.iter()
        .map(|s| match s {
            Segment::Text(t) | Segment::Escape(t) => t.as_str(),
        })
        .collect()
}

/// Segments as markup: a `tok` span whose escapes are marked `esc`.
pub fn segments_markup(segs: &[Segment]) -> Markup {
    html! {
        span.tok {
            @for s in segs {
                @match s {
                    Segment::Text(t) => (t),
                    Segment::Escape(e) => span.esc { (e) },
                }
            }
        }
    }
}

/// Text (already valid UTF-8) shown safely as a token.
pub fn text_markup(s: &str) -> Markup {
    let mut segs = Vec::new();
    text_segments(s, &mut segs);
    segments_markup(&segs)
}

/// A number for a table or axis: integers as they are, others with 4 significant digits.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "–".into()
        } else {
            format!("{x}")
        };
    }
    if x == x.trunc() && x.abs() < 1e9 {
        return format!("{}", x as i64);
    }
    let a = x.abs();
    if !(1e-3..1e6).contains(&a) {
        format!("{x:.3e}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else {
        // 4 significant digits.
        let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
        format!("{x:.decimals$}")
    }
}

/// A fraction as a percentage.
pub fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", 100.0 * x)
    } else {
        "–".into()
    }
}

/// A count with thousands separators (thin spaces), for readability.
pub fn count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('\u{2009}');
        }
        out.push(c);
    }
    out
}

/// A table a reader can filter: the input above it hides rows whose text does not
/// contain the query (see [`SCRIPT`]).
pub fn filter_box(table_id: &str, what: &str) -> Markup {
    html! {
        div.filter {
            label {
                "Filter " (what) ": "
                input type="search" data-filter=(table_id) placeholder="text, id or category";
            }
            " " span.shown data-count-for=(table_id) {}
        }
    }
}

/// Style: readable on screen, compact on paper, no external fonts.
pub const STYLE: &str = r#"
:root { --fg:#1b1f24; --muted:#5a6472; --line:#d5dae1; --bg2:#f5f7fa; --accent:#0b6bcb; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: var(--fg); margin: 0 auto; max-width: 1180px; padding: 18px 28px 60px; }
h1 { font-size: 1.6em; margin: .2em 0 .1em; }
h2 { font-size: 1.3em; border-bottom: 2px solid var(--line); padding-bottom: 3px; margin-top: 2em; }
h3 { font-size: 1.05em; margin: 1.4em 0 .4em; }
p.sub, .note { color: var(--muted); }
nav ul { margin: .4em 0; padding-left: 1.2em; columns: 2; }
table { border-collapse: collapse; margin: .4em 0 1em; font-size: .92em; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: var(--bg2); }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
table.kv th { width: 14em; }
.scroll { max-height: 32em; overflow: auto; border: 1px solid var(--line); }
.scroll table { margin: 0; }
.scroll thead th { position: sticky; top: 0; }
.tok { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; white-space: pre;
  background: #eef2f7; border-radius: 3px; padding: 0 2px; unicode-bidi: isolate; }
.tok .esc { color: #b3261e; background: #fde8e6; border-radius: 2px; font-size: .9em; }
figure { margin: .6em 0 1.2em; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: .9em; margin-top: .2em; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 0 24px; }
.grid2 > * { min-width: 0; overflow-x: auto; }
.filter { margin: .4em 0; }
.filter input { font: inherit; padding: 2px 6px; width: 22em; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: .85em; background: var(--bg2); }
.v-strongly_under_trained { background: #f8d3cf; } .v-under_trained { background: #fde6c8; }
.v-unclear { background: #eceff3; } .v-trained { background: #d7efdc; }
.v-inconclusive { background: #dcecf7; }
.rec { font-weight: 600; }
.legend { margin-right: .6em; }
.legend .key { display: inline-block; width: .8em; height: .8em; margin-left: .5em; vertical-align: -1px;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.legend .key.line { height: 3px; vertical-align: 3px; }
.legend { display: block; margin-bottom: .2em; color: var(--fg); }
table.nowrap td { white-space: nowrap; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  .filter, nav { display: none; }
  .scroll { max-height: none; overflow: visible; border: 0; }
  .grid2 { display: block; }
  section, figure, table { break-inside: auto; }
  figure { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
}
"#;

/// The only script: table filtering, with a marker set at its end so a headless browser
/// can tell it ran to completion. Text is compared through `textContent`; nothing is
/// ever written back as HTML.
pub const SCRIPT: &str = r#"
(function () {
  "use strict";
  function update(input) {
    var table = document.getElementById(input.getAttribute("data-filter"));
    if (!table) { return; }
    var q = input.value.toLowerCase();
    var rows = table.tBodies[0].rows, shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var hit = q === "" || rows[i].textContent.toLowerCase().indexOf(q) >= 0;
      rows[i].style.display = hit ? "" : "none";
      if (hit) { shown++; }
    }
    var c = document.querySelector('[data-count-for="' + table.id + '"]');
    if (c) { c.textContent = shown + " of " + rows.length + " rows"; }
  }
  var inputs = document.querySelectorAll("input[data-filter]");
  for (var i = 0; i < inputs.length; i++) {
    inputs[i].addEventListener("input", function (e) { update(e.target); });
    update(inputs[i]);
  }
  document.documentElement.setAttribute("data-report-js", "ok");
})();
"#;

/// The whole page around the sections.
pub fn page(title: &str, header: Markup, nav: &[(String, String)], body: Markup) -> String {
    let m = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No network: nothing below loads anything from anywhere.
                meta http-equiv="Content-Security-Policy"
                    content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                (header)
                @if !nav.is_empty() {
                    nav {
                        strong { "Sections" }
                        ul {
                            @for (id, name) in nav {
                                li { a href={ "#" (id) } { (name) } }
                            }
                        }
                    }
                }
                (body)
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    m.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_visible_and_html_safe() {
        let segs = byte_segments(b"a<b>\xED\xA0\x80\xE2");
        assert_eq!(segments_string(&segs), "a<b><0xED><0xA0><0x80><0xE2>");
        let m = segments_markup(&segs).into_string();
        assert!(m.contains("a&lt;b&gt;"), "{m}");
        assert!(!m.contains("<b>"), "{m}");
        let mut s = Vec::new();
        text_segments("x\u{200b}\u{202e}\0\"'", &mut s);
        assert_eq!(
            s,
            vec![
                Segment::Text("x".into()),
                Segment::Escape("\\u{200b}".into()),
                Segment::Escape("\\u{202e}".into()),
                Segment::Escape("\\u{0}".into()),
                Segment::Text("\"'".into()),
            ]
        );
        let m = segments_markup(&s).into_string();
        assert!(!m.contains('\u{202e}') && !m.contains('\0'));
    }

    #[test]
    fn token_bytes_from_raw_forms() {
        assert_eq!(token_bytes("<0xE2>", false), Some(vec![0xE2]));
        assert_eq!(
            token_bytes(&bytelevel::bytes_to_string(&[0xED, 0xA0]), true),
            Some(vec![0xED, 0xA0])
        );
        assert_eq!(token_bytes("abc", false), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(num(3.0), "3");
        assert_eq!(num(0.012345), "0.01235");
        assert_eq!(num(1.5e-7), "1.500e-7");
        assert_eq!(num(f64::NAN), "–");
        assert_eq!(count(1234567), "1\u{2009}234\u{2009}567");
    }
}
