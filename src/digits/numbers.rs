//! Finding numbers in text and measuring how an encoding cut them.
//!
//! A *digit run* is a maximal run of characters of Unicode category N (`char::is_numeric`,
//! the `\p{N}` of the schemes). A *number* in arithmetic data is a run with optional
//! thousands groups and a decimal part (`1,000`, `0.5`); its sign is not part of it.
//!
//! The cut of a span is read from the token byte offsets. Two kinds of tokens share
//! offsets with others: the pieces of one character split into byte tokens, and the
//! `▁` a SentencePiece normalizer prepends (it gets the offsets of the first character).
//! A character is therefore owned by the *last* token whose offsets hold it, and a token
//! that owns no digit counts toward a number only when it lies inside the number and is
//! not a bare space marker (a comma, a byte-fallback piece: yes; the prepended `▁`: no).

use std::ops::Range;

/// The digit class of the schemes (`\p{N}`).
pub fn is_digit(c: char) -> bool {
    c.is_numeric()
}

/// Byte ranges of the maximal digit runs of `text`.
pub fn digit_runs(text: &str) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        match (is_digit(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push(s..text.len());
    }
    runs
}

/// Fast check before the per-character scan.
pub fn has_digit(text: &str) -> bool {
    if text.is_ascii() {
        text.bytes().any(|b| b.is_ascii_digit())
    } else {
        text.chars().any(is_digit)
    }
}

/// A number found in arithmetic text: its byte span and whether it is an integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number {
    /// Byte range in the text, separators and decimal point included, so a cut covers
    /// the whole number as written.
    pub span: Range<usize>,
    /// No decimal point (thousands commas allowed).
    pub integer: bool,
}

impl Number {
    /// Its digits without separators (`1,000` → `1000`).
    pub fn digits<'a>(&self, text: &'a str) -> impl Iterator<Item = char> + 'a {
        text[self.span.clone()].chars().filter(|c| is_digit(*c))
    }
    /// How many digits it has, separators not counted (which operand is longest).
    pub fn digit_count(&self, text: &str) -> usize {
        self.digits(text).count()
    }
}

/// Numbers in `text`: `\p{N}+(,\p{N}{3})*(\.\p{N}+)?`, plus `.5` style decimals (the
/// point is then part of the number and it is not an integer).
pub fn numbers(text: &str) -> Vec<Number> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let n = chars.len();
    let end_of = |k: usize| if k < n { chars[k].0 } else { text.len() };
    let digit_at = |k: usize| k < n && is_digit(chars[k].1);
    let run_from = |mut k: usize| {
        while digit_at(k) {
            k += 1;
        }
        k
    };
    let mut out = Vec::new();
    let mut k = 0;
    while k < n {
        if !digit_at(k) {
            k += 1;
            continue;
        }
        let mut start = k;
        let mut integer = true;
        if k > 0 && chars[k - 1].1 == '.' && !(k > 1 && digit_at(k - 2)) {
            start = k - 1;
            integer = false;
        }
        let mut end = run_from(k);
        // Thousands groups: a comma followed by exactly three digits.
        while end < n && chars[end].1 == ',' && run_from(end + 1) == end + 4 {
            end += 4;
        }
        if integer && end + 1 < n && chars[end].1 == '.' && digit_at(end + 1) {
            end = run_from(end + 1);
            integer = false;
        }
        out.push(Number {
            span: chars[start].0..end_of(end),
            integer,
        });
        k = end;
    }
    out
}

/// How one encoding cut one span of the text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cut {
    /// Digits owned by each token of the span, left to right; 0 for a token inside the
    /// span that holds no digit of its own (a comma, a second byte token).
    pub digits: Vec<u16>,
    /// The span's text as each of those tokens holds it (when asked for).
    pub pieces: Vec<String>,
}

impl Cut {
    /// Tokens the span took, digit-holding or not.
    pub fn tokens(&self) -> usize {
        self.digits.len()
    }
    /// Digits of the span (separators not counted).
    pub fn digit_count(&self) -> usize {
        self.digits.iter().map(|&d| d as usize).sum()
    }
    /// Digit-group shape: the digits per digit-holding token, e.g. `3+3+1`.
    pub fn shape(&self) -> String {
        let parts: Vec<String> = self
            .digits
            .iter()
            .filter(|&&d| d > 0)
            .map(|d| d.to_string())
            .collect();
        parts.join("+")
    }
    /// Place values of the cuts between digit-holding tokens, as the number of digits to
    /// the right of each cut, ascending (1234567 cut 1|234|567 → [3, 6]).
    pub fn boundaries(&self) -> Vec<usize> {
        let mut right = 0usize;
        let mut out = Vec::new();
        for &d in self.digits.iter().rev().filter(|&&d| d > 0) {
            if right > 0 {
                out.push(right);
            }
            right += d as usize;
        }
        out
    }
    /// Place values of cuts counted from the left (for fractional parts, whose place
    /// value runs from the decimal point): every token end, the last one included.
    pub fn ends_from_left(&self) -> Vec<usize> {
        let mut left = 0usize;
        let mut out = Vec::new();
        for &d in self.digits.iter().filter(|&&d| d > 0) {
            left += d as usize;
            out.push(left);
        }
        out
    }
    /// The cut written out: `1|234|567`.
    pub fn display(&self) -> String {
        self.pieces.join("|")
    }
}

/// Is this token only a space marker (`▁`, `Ġ`, whitespace)?
fn is_space_piece(piece: &str) -> bool {
    !piece.is_empty()
        && piece
            .chars()
            .all(|c| c == '▁' || c == 'Ġ' || c == 'Ċ' || c.is_whitespace())
}

/// Number of characters that start in `text[a..b]` and are digits.
fn digits_in(text: &str, a: usize, b: usize) -> usize {
    if a >= b {
        return 0;
    }
    let bytes = text.as_bytes();
    let mut n = 0;
    let mut i = a;
    while i < b {
        // Skip to a character start.
        if (bytes[i] & 0xC0) == 0x80 {
            i += 1;
            continue;
        }
        let c = text[i..].chars().next().unwrap_or('\0');
        if is_digit(c) {
            n += 1;
        }
        i += c.len_utf8().max(1);
    }
    n
}

/// Clamp a byte range to character boundaries of `text` and return the slice.
fn slice(text: &str, a: usize, b: usize) -> &str {
    let mut a = a.min(text.len());
    let mut b = b.min(text.len());
    while a > 0 && !text.is_char_boundary(a) {
        a -= 1;
    }
    while b < text.len() && !text.is_char_boundary(b) {
        b += 1;
    }
    if a >= b {
        ""
    } else {
        &text[a..b]
    }
}

/// The token offsets of one encoding, with what is needed to read cuts from them.
pub struct Encoded<'a> {
    /// The text that was encoded.
    pub text: &'a str,
    /// Per token: its byte range in [`text`](Self::text).
    pub offsets: &'a [(usize, usize)],
    /// Per token: is it a bare space marker?
    pub space: Vec<bool>,
}

impl<'a> Encoded<'a> {
    /// `pieces[i]` is token i's vocabulary string (only used to spot space markers).
    pub fn new<S: AsRef<str>>(
        text: &'a str,
        offsets: &'a [(usize, usize)],
        pieces: &[S],
    ) -> Encoded<'a> {
        Encoded {
            text,
            offsets,
            space: pieces.iter().map(|p| is_space_piece(p.as_ref())).collect(),
        }
    }

    /// The range of `text` token `i` owns: its offsets, less what the next token also
    /// holds (shared offsets go to the last token).
    fn owned(&self, i: usize) -> (usize, usize) {
        let (s, e) = self.offsets[i];
        let mut end = e;
        if let Some(&(ns, _)) = self.offsets.get(i + 1) {
            if ns >= s && ns < end {
                end = ns;
            }
        }
        (s, end)
    }

    /// First token whose end is past `pos` (offsets are in text order).
    fn first_reaching(&self, pos: usize) -> usize {
        self.offsets.partition_point(|&(_, e)| e <= pos)
    }

    /// How the tokens cut `span` (digits per token only).
    pub fn cut(&self, span: &Range<usize>) -> Cut {
        self.cut_inner(span, false)
    }

    /// How the tokens cut `span`, with the text each token holds.
    pub fn cut_with_pieces(&self, span: &Range<usize>) -> Cut {
        self.cut_inner(span, true)
    }

    fn cut_inner(&self, span: &Range<usize>, pieces: bool) -> Cut {
        let mut cut = Cut::default();
        let mut i = self.first_reaching(span.start);
        while i < self.offsets.len() {
            let (s, e) = self.offsets[i];
            if s >= span.end {
                break;
            }
            if e > span.start && s < e {
                let (os, oe) = self.owned(i);
                let a = os.max(span.start);
                let b = oe.min(span.end);
                let d = digits_in(self.text, a, b);
                let inside = s >= span.start && e <= span.end && !self.space[i];
                // Inside with a < b: a separator; inside with a >= b: a byte token sharing
                // its character with the next token.
                if d > 0 || inside {
                    cut.digits.push(d as u16);
                    if pieces {
                        cut.pieces.push(slice(self.text, a, b).to_string());
                    }
                }
            }
            i += 1;
        }
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_numbers() {
        let t = "a 1,000 b 9.11 c .5 d 12,34 ٣٤";
        let runs: Vec<&str> = digit_runs(t).into_iter().map(|r| &t[r]).collect();
        assert_eq!(runs, ["1", "000", "9", "11", "5", "12", "34", "٣٤"]);
        let nums: Vec<(&str, bool)> = numbers(t)
            .into_iter()
            .map(|n| (&t[n.span.clone()], n.integer))
            .collect();
        assert_eq!(
            nums,
            [
                ("1,000", true),
                ("9.11", false),
                (".5", false),
                ("12", true),
                ("34", true),
                ("٣٤", true)
            ]
        );
    }

    #[test]
    fn cut_boundaries() {
        let c = Cut {
            digits: vec![1, 0, 3, 3],
            pieces: vec!["1".into(), ",".into(), "234".into(), "567".into()],
        };
        assert_eq!(c.shape(), "1+3+3");
        assert_eq!(c.boundaries(), [3, 6]);
        assert_eq!(c.ends_from_left(), [1, 4, 7]);
        assert_eq!(c.tokens(), 4);
        assert_eq!(c.display(), "1|,|234|567");
    }

    #[test]
    fn shared_offsets_go_to_the_last_token() {
        // SentencePiece "123": the prepended ▁ shares the first digit's offsets.
        let text = "123";
        let offs = [(0, 1), (0, 1), (1, 2), (2, 3)];
        let enc = Encoded::new(text, &offs, &["▁", "1", "2", "3"]);
        let c = enc.cut_with_pieces(&(0..3));
        assert_eq!(c.display(), "1|2|3");
        assert_eq!(c.digits, [1, 1, 1]);
        // Byte fallback: two byte tokens for one digit character.
        let text = "x٣";
        let offs = [(0, 1), (1, 3), (1, 3)];
        let enc = Encoded::new(text, &offs, &["x", "<0xD9>", "<0xA3>"]);
        let c = enc.cut(&(1..3));
        assert_eq!(c.digits, [0, 1]);
    }
}
