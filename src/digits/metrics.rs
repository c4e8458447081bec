//! What is measured per tokenizer and scheme: text statistics (tokens per number, shapes,
//! bytes per token, tokens per word), arithmetic alignment, vocabulary coverage of digit
//! groups, and the decimal-comparison probe.

use std::collections::BTreeMap;

use tokenizers::{Model, Tokenizer};

use super::numbers::Cut;
use super::scheme::Scheme;

/// Sums over the documents of one corpus for one tokenizer and scheme.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextStats {
    /// Documents measured.
    pub docs: u64,
    /// Bytes of those documents, for bytes per token.
    pub bytes: u64,
    /// Whitespace-separated words, for tokens per word (fertility).
    pub words: u64,
    /// Tokens of the whole documents, digits or not.
    pub tokens: u64,
    /// Digit runs ("numbers").
    pub numbers: u64,
    /// Tokens the digit runs took.
    pub number_tokens: u64,
    /// Digits of the digit runs.
    pub digits: u64,
    /// Digit-group shape (`3+3+1`) → count, over all digit runs.
    pub shapes: BTreeMap<String, u64>,
    /// Groups the scheme made, and how many of them the vocabulary had to cut further.
    pub groups: u64,
    /// Of [`groups`](Self::groups), those the vocabulary cut further.
    pub split_groups: u64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

impl TextStats {
    /// Sums of two parts of one corpus, so documents can be measured in parallel.
    pub fn merge(mut self, o: TextStats) -> TextStats {
        self.docs += o.docs;
        self.bytes += o.bytes;
        self.words += o.words;
        self.tokens += o.tokens;
        self.numbers += o.numbers;
        self.number_tokens += o.number_tokens;
        self.digits += o.digits;
        for (k, v) in o.shapes {
            *self.shapes.entry(k).or_default() += v;
        }
        self.groups += o.groups;
        self.split_groups += o.split_groups;
        self
    }
    /// Tokens per digit run: the headline cost of a scheme (NaN without numbers).
    pub fn tokens_per_number(&self) -> f64 {
        ratio(self.number_tokens, self.numbers)
    }
    /// Compression of the whole text (NaN without tokens).
    pub fn bytes_per_token(&self) -> f64 {
        ratio(self.bytes, self.tokens)
    }
    /// Fertility, comparable across languages of a parallel corpus (NaN without words).
    pub fn tokens_per_word(&self) -> f64 {
        ratio(self.tokens, self.words)
    }
    /// Tokens per document, per sentence for PUD (NaN without documents).
    pub fn tokens_per_doc(&self) -> f64 {
        ratio(self.tokens, self.docs)
    }
    /// Digits a number token holds on average (NaN without numbers).
    pub fn digits_per_token(&self) -> f64 {
        ratio(self.digits, self.number_tokens)
    }
    /// Share of the scheme's groups that the vocabulary could not keep as one token.
    pub fn split_group_rate(&self) -> f64 {
        ratio(self.split_groups, self.groups)
    }

    /// Add one digit run's cut.
    pub fn add_run(&mut self, cut: &Cut, scheme: Scheme) {
        self.numbers += 1;
        self.number_tokens += cut.tokens() as u64;
        self.digits += cut.digit_count() as u64;
        *self.shapes.entry(cut.shape()).or_default() += 1;
        if let Some(groups) = scheme.group_lengths(cut.digit_count()) {
            self.groups += groups.len() as u64;
            self.split_groups += split_groups(cut, &groups) as u64;
        }
    }

    /// The most frequent shapes of runs of at least `min_digits` digits.
    pub fn top_shapes(&self, min_digits: usize, n: usize) -> Vec<(String, u64)> {
        top_shapes(&self.shapes, min_digits, n)
    }
}

/// The `n` most frequent shapes of at least `min_digits` digits, most frequent first.
pub fn top_shapes(
    shapes: &BTreeMap<String, u64>,
    min_digits: usize,
    n: usize,
) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = shapes
        .iter()
        .filter(|(s, _)| shape_digits(s) >= min_digits)
        .map(|(s, c)| (s.clone(), *c))
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// How many of `shapes` have at least `min_digits` digits.
pub fn count_shapes(shapes: &BTreeMap<String, u64>, min_digits: usize) -> u64 {
    shapes
        .iter()
        .filter(|(s, _)| shape_digits(s) >= min_digits)
        .map(|(_, c)| c)
        .sum()
}

/// Digits in a shape string (`3+3+1` → 7).
pub fn shape_digits(shape: &str) -> usize {
    shape
        .split('+')
        .filter_map(|p| p.parse::<usize>().ok())
        .sum()
}

/// How many of the scheme's `groups` (lengths, left to right) took more than one token.
pub fn split_groups(cut: &Cut, groups: &[usize]) -> usize {
    let mut split = 0;
    let mut g = 0;
    let mut left = groups.first().copied().unwrap_or(0);
    let mut tokens_in_group = 0;
    for &d in &cut.digits {
        tokens_in_group += 1;
        let mut d = d as usize;
        while d > 0 && g < groups.len() {
            let take = d.min(left);
            d -= take;
            left -= take;
            if left == 0 {
                if tokens_in_group > 1 {
                    split += 1;
                }
                g += 1;
                left = groups.get(g).copied().unwrap_or(0);
                // A token running on into the next group (never with a digit stage).
                tokens_in_group = usize::from(d > 0);
            }
        }
    }
    split
}

/// Arithmetic records of one kind in one corpus, for one tokenizer and scheme.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArithStats {
    /// Records measured, integer or not.
    pub records: u64,
    /// Records whose numbers are all integers: alignment is measured on these.
    pub integer_records: u64,
    /// Integer records whose answer has more digits than the longest operand.
    pub answer_longer: u64,
    /// Integer records whose answer's cuts line up with every operand's.
    pub aligned: u64,
    /// Of those, the ones whose answer is longer: a carry into a new place is where
    /// left-to-right grouping goes wrong.
    pub aligned_when_longer: u64,
    /// Answers measured (one per record).
    pub answers: u64,
    /// Tokens the answers took.
    pub answer_tokens: u64,
    /// Operands measured, over all records.
    pub operands: u64,
    /// Tokens the operands took.
    pub operand_tokens: u64,
    /// Answer shape → count.
    pub answer_shapes: BTreeMap<String, u64>,
}

impl ArithStats {
    /// Sums of two parts of one corpus, so documents can be measured in parallel.
    pub fn merge(mut self, o: ArithStats) -> ArithStats {
        self.records += o.records;
        self.integer_records += o.integer_records;
        self.answer_longer += o.answer_longer;
        self.aligned += o.aligned;
        self.aligned_when_longer += o.aligned_when_longer;
        self.answers += o.answers;
        self.answer_tokens += o.answer_tokens;
        self.operands += o.operands;
        self.operand_tokens += o.operand_tokens;
        for (k, v) in o.answer_shapes {
            *self.answer_shapes.entry(k).or_default() += v;
        }
        self
    }
    /// Share of integer records whose answer lines up (NaN without integer records).
    pub fn aligned_rate(&self) -> f64 {
        ratio(self.aligned, self.integer_records)
    }
    /// Share of integer records with a longer answer, to read the alignment rate
    /// against (NaN without integer records).
    pub fn answer_longer_rate(&self) -> f64 {
        ratio(self.answer_longer, self.integer_records)
    }
    /// Alignment among records with a longer answer (NaN without any).
    pub fn aligned_when_longer_rate(&self) -> f64 {
        ratio(self.aligned_when_longer, self.answer_longer)
    }
    /// Alignment among integer records whose answer is not longer (NaN without any).
    pub fn aligned_when_not_longer_rate(&self) -> f64 {
        ratio(
            self.aligned - self.aligned_when_longer,
            self.integer_records - self.answer_longer,
        )
    }
    /// Tokens per answer (NaN without records).
    pub fn tokens_per_answer(&self) -> f64 {
        ratio(self.answer_tokens, self.answers)
    }
    /// Tokens per operand (NaN without operands).
    pub fn tokens_per_operand(&self) -> f64 {
        ratio(self.operand_tokens, self.operands)
    }

    /// Add one record: the cuts of its operands and of its answer, and whether all its
    /// numbers are integers.
    pub fn add(&mut self, operands: &[Cut], answer: &Cut, integer: bool) {
        self.records += 1;
        self.answers += 1;
        self.answer_tokens += answer.tokens() as u64;
        *self.answer_shapes.entry(answer.shape()).or_default() += 1;
        for o in operands {
            self.operands += 1;
            self.operand_tokens += o.tokens() as u64;
        }
        if !integer {
            return;
        }
        self.integer_records += 1;
        let longest = operands.iter().map(|o| o.digit_count()).max().unwrap_or(0);
        let longer = answer.digit_count() > longest;
        let ok = aligned(operands, answer);
        self.answer_longer += u64::from(longer);
        self.aligned += u64::from(ok);
        self.aligned_when_longer += u64::from(ok && longer);
    }
}

/// The answer's cuts line up with the operands' place values: for every operand, the
/// cuts at the place values both numbers have (inside the shorter one) are the same. A
/// cut is named by the number of digits to its right. 1-digit and R2L always align when
/// the vocabulary keeps every group whole; L2R aligns only when the lengths agree
/// modulo 3.
pub fn aligned(operands: &[Cut], answer: &Cut) -> bool {
    let ab = answer.boundaries();
    let an = answer.digit_count();
    operands.iter().all(|o| {
        let m = o.digit_count().min(an);
        let inside = |b: &[usize]| -> Vec<usize> { b.iter().copied().filter(|&p| p < m).collect() };
        inside(&o.boundaries()) == inside(&ab)
    })
}

/// Which digit strings the vocabulary holds as single tokens, and how the others fall back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Coverage {
    /// For length 1, 2, 3 (index 0, 1, 2): strings of that many digits (leading zeros
    /// included: 10, 100, 1000) that are one token.
    pub single: [u32; 3],
    /// For each length: all strings of that many digits (10, 100, 1000).
    pub total: [u32; 3],
    /// For each length: number of tokens → how many strings took that many.
    pub fallback: [BTreeMap<usize, u32>; 3],
    /// A few strings that are not one token, with their pieces (`586 → 58|6`).
    pub examples: [Vec<String>; 3],
}

impl Coverage {
    /// Measure with the tokenizer's model on bare ASCII digit strings (ASCII digits are
    /// the same characters in byte-level and SentencePiece vocabularies).
    pub fn measure(tokenizer: &Tokenizer) -> Coverage {
        let model = tokenizer.get_model();
        let mut c = Coverage::default();
        for len in 1..=3usize {
            let n = 10u32.pow(len as u32);
            c.total[len - 1] = n;
            // Strings without a leading zero first, so the examples are plain numbers.
            let first = if len == 1 { 0 } else { n / 10 };
            for v in (first..n).chain(0..first) {
                let s = format!("{v:0len$}");
                let pieces: Vec<String> = model
                    .tokenize(&s)
                    .map(|t| t.into_iter().map(|t| t.value).collect())
                    .unwrap_or_default();
                let k = pieces.len();
                *c.fallback[len - 1].entry(k).or_default() += 1;
                if k == 1 {
                    c.single[len - 1] += 1;
                } else if c.examples[len - 1].len() < 5 {
                    c.examples[len - 1].push(format!("{s} → {}", pieces.join("|")));
                }
            }
        }
        c
    }

    /// Can every group the scheme makes be one token?
    pub fn expresses(&self, scheme: Scheme) -> Option<bool> {
        let full = |i: usize| self.single[i] == self.total[i];
        match scheme.max_group() {
            None => None,
            Some(1) => Some(full(0)),
            Some(_) => Some(full(0) && full(1) && full(2)),
        }
    }
}

/// Decimal pairs of the comparison probe: the right one is larger in each.
pub const PROBE_PAIRS: [(&str, &str); 8] = [
    ("9.11", "9.9"),
    ("3.14", "3.2"),
    ("0.45", "0.5"),
    ("10.01", "10.1"),
    ("2.718", "2.8"),
    ("7.125", "7.13"),
    ("100.001", "100.01"),
    ("999.99", "1234.5"),
];

/// The sentence the probe encodes for a pair.
pub fn probe_text(a: &str, b: &str) -> String {
    format!("Which is larger, {a} or {b}?")
}

/// How one tokenizer and scheme cut both sides of one pair.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeCut {
    /// The smaller number, with its pieces.
    pub left: Cut,
    /// The larger number, with its pieces.
    pub right: Cut,
    /// The fractional digits of both sides are cut at the same places (counted from the
    /// decimal point) up to the shorter one's last digit.
    pub fraction_aligned: bool,
}

/// Compare the fractional parts' cuts: tokens end at the same place values.
pub fn fractions_aligned(left: &Cut, right: &Cut) -> bool {
    let m = left.digit_count().min(right.digit_count());
    let ends =
        |c: &Cut| -> Vec<usize> { c.ends_from_left().into_iter().filter(|&e| e <= m).collect() };
    ends(left) == ends(right)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(d: &[u16]) -> Cut {
        Cut {
            digits: d.to_vec(),
            pieces: vec![String::new(); d.len()],
        }
    }

    #[test]
    fn alignment_of_l2r_and_r2l() {
        // 9923 + 617 = 10540 in L2R: 992|3 + 617 = 105|40: misaligned.
        assert!(!aligned(&[cut(&[3, 1]), cut(&[3])], &cut(&[3, 2])));
        // In R2L: 9|923 + 617 = 10|540: aligned.
        assert!(aligned(&[cut(&[1, 3]), cut(&[3])], &cut(&[2, 3])));
        // 1-digit always aligned, also when the answer is shorter (23935 - 27571 = -3636).
        assert!(aligned(&[cut(&[1, 1]), cut(&[1, 1])], &cut(&[1, 1, 1])));
        assert!(aligned(&[cut(&[1; 5]), cut(&[1; 5])], &cut(&[1; 4])));
        // R2L: 45 + 1000 = 1045 is 45 against 1|045: aligned; L2R 104|5: not.
        assert!(aligned(&[cut(&[2]), cut(&[1, 3])], &cut(&[1, 3])));
        assert!(!aligned(&[cut(&[2]), cut(&[3, 1])], &cut(&[3, 1])));
    }

    #[test]
    fn split_group_count() {
        // R2L 1|234|567 with "567" falling back to 5|67: one group split.
        assert_eq!(split_groups(&cut(&[1, 3, 1, 2]), &[1, 3, 3]), 1);
        assert_eq!(split_groups(&cut(&[1, 3, 3]), &[1, 3, 3]), 0);
        // A group of three that came out as three tokens.
        assert_eq!(split_groups(&cut(&[1, 1, 1]), &[3]), 1);
    }

    #[test]
    fn fractions() {
        // .11 vs .9 in one token each: "11" against "9" — not aligned.
        assert!(!fractions_aligned(&cut(&[2]), &cut(&[1])));
        // 1-digit: 1|1 vs 9.
        assert!(fractions_aligned(&cut(&[1, 1]), &cut(&[1])));
        assert!(fractions_aligned(&cut(&[2]), &cut(&[2, 1])));
    }
}
