//! Numbers made up in the run, so the command says something without any data file:
//! integers of every length from 1 to 12 digits, and additions of two n-digit numbers for
//! n = 1..9 (the task where place-value alignment matters most). Seeded, so two runs
//! with the same seed measure the same text.

use super::data::{ArithFormat, ArithRecord, Corpus, CorpusKind, NumRef, RecordKind};
use super::numbers::numbers;

/// SplitMix64: small, fast, and good enough to draw test numbers.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The generator for a seed: the same seed draws the same numbers.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..hi` (hi > lo).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
    /// A number of exactly `digits` digits (no leading zero).
    pub fn number(&mut self, digits: u32) -> u64 {
        if digits <= 1 {
            return self.range(0, 10);
        }
        self.range(10u64.pow(digits - 1), 10u64.pow(digits))
    }
}

/// Integers per length in the generated number text.
pub const NUMBERS_PER_LENGTH: usize = 100;
/// Longest generated integer.
pub const MAX_NUMBER_DIGITS: u32 = 12;
/// Additions per operand length.
pub const ADDITIONS_PER_LENGTH: usize = 200;
/// Longest generated operand.
pub const MAX_OPERAND_DIGITS: u32 = 9;

/// Lines of ten integers each, lengths 1..=12 digits, shuffled.
pub fn numbers_corpus(seed: u64) -> Corpus {
    let mut rng = Rng::new(seed);
    let mut all: Vec<u64> = Vec::new();
    for d in 1..=MAX_NUMBER_DIGITS {
        for _ in 0..NUMBERS_PER_LENGTH {
            all.push(rng.number(d));
        }
    }
    // Fisher–Yates.
    for i in (1..all.len()).rev() {
        let j = rng.range(0, i as u64 + 1) as usize;
        all.swap(i, j);
    }
    let mut c = Corpus {
        name: format!("generated integers (seed {seed})"),
        path: None,
        kind: CorpusKind::Generated,
        docs: Vec::new(),
        numbers: Vec::new(),
        records: Vec::new(),
        skipped: 0,
    };
    for chunk in all.chunks(10) {
        let line: Vec<String> = chunk.iter().map(|n| n.to_string()).collect();
        c.docs.push(format!("{}\n", line.join(" ")));
        c.numbers.push(Vec::new());
    }
    c
}

/// `Q: What is A plus B?\nA: C` for two n-digit operands, n = 1..=9.
pub fn additions_corpus(seed: u64) -> Corpus {
    let mut rng = Rng::new(seed ^ 0xADD);
    let mut c = Corpus {
        name: format!("generated additions (seed {seed})"),
        path: None,
        kind: CorpusKind::Arith(ArithFormat::Generated),
        docs: Vec::new(),
        numbers: Vec::new(),
        records: Vec::new(),
        skipped: 0,
    };
    for d in 1..=MAX_OPERAND_DIGITS {
        for _ in 0..ADDITIONS_PER_LENGTH {
            let (a, b) = (rng.number(d), rng.number(d));
            let text = format!("Q: What is {a} plus {b}?\nA: {}\n", a + b);
            let nums = numbers(&text);
            let doc = c.docs.len();
            c.records.push(ArithRecord {
                kind: RecordKind::Problem,
                operands: vec![NumRef { doc, idx: 0 }, NumRef { doc, idx: 1 }],
                answer: NumRef { doc, idx: 2 },
            });
            c.docs.push(text);
            c.numbers.push(nums);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_exact_lengths() {
        let a = additions_corpus(7);
        let b = additions_corpus(7);
        assert_eq!(a.docs, b.docs);
        assert_ne!(a.docs, additions_corpus(8).docs);
        assert_eq!(a.records.len(), 9 * ADDITIONS_PER_LENGTH);
        let n = numbers_corpus(7);
        let count: usize = n.docs.iter().map(|d| d.split_whitespace().count()).sum();
        assert_eq!(count, 12 * NUMBERS_PER_LENGTH);
        let mut rng = Rng::new(1);
        for d in 1..=12 {
            assert_eq!(rng.number(d).to_string().len(), d as usize);
        }
    }
}
