//! Showing token text safely. Tokens contain newlines, control characters, bidi marks,
//! zero-width characters and broken UTF-8; shown raw they corrupt terminals, tables and
//! spreadsheets. Every invisible or layout-changing character becomes a visible escape.

/// Characters that are invisible or change layout: shown as `\u{…}`.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
            | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

/// Escape text for one-line display: `\n`, `\t`, `\r`, `\\`, and `\u{…}` for invisible
/// characters. U+FFFD stays visible as itself.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_invisible(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Already-escaped text in double quotes, for tables (no second round of escaping).
pub fn quoted(escaped: &str) -> String {
    format!("\"{escaped}\"")
}

/// Escape for a CSV cell that spreadsheets open: [`visible`], plus a leading `'` when the
/// cell would otherwise start a formula (`=`, `+`, `-`, `@`), as OWASP recommends.
pub fn spreadsheet(s: &str) -> String {
    let v = visible(s);
    if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_invisible_and_formula_starts() {
        assert_eq!(visible("a\nb\t\\"), "a\\nb\\t\\\\");
        assert_eq!(visible("x\u{200b}y\u{202e}"), "x\\u{200b}y\\u{202e}");
        assert_eq!(visible("\0"), "\\u{0}");
        assert_eq!(visible("é�"), "é�");
        assert_eq!(spreadsheet("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(spreadsheet("-"), "'-");
        assert_eq!(spreadsheet("ok"), "ok");
    }
}
