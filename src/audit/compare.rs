//! Two vocabularies held against each other id by id: how a tokenizer given beside a model
//! is checked against the model's own (same size is not the same vocabulary: Llama-2's
//! and Mistral-7B's both have 32,000 ids).

use super::Guard;
use crate::vocab::Vocab;

/// What [`compare`] found.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Ids decoded by both.
    pub compared: usize,
    /// Of them, those whose texts differ.
    pub differing: usize,
    /// The first few: (id, text in `a`, text in `b`).
    pub examples: Vec<(u32, String, String)>,
}

impl Comparison {
    /// More than 1 % of the compared ids differ: not the same vocabulary (a tokenizer
    /// with a few added or renamed tokens stays below).
    pub fn mismatch(&self) -> bool {
        self.differing * 100 > self.compared
    }
}

/// Decode up to `sample` ids spread evenly over the ids both have, leaving out the
/// specials of either (their names vary between formats of one tokenizer), and count
/// those whose texts differ. Each text is decoded behind the vocabulary's own guard
/// character, so a leading space is compared as well.
pub fn compare(a: &Vocab, b: &Vocab, sample: usize) -> Comparison {
    let n = a.len().min(b.len());
    let step = (n / sample.max(1)).max(1);
    let (ga, gb) = (Guard::detect(a), Guard::detect(b));
    let mut out = Comparison {
        compared: 0,
        differing: 0,
        examples: Vec::new(),
    };
    for id in (0..n as u32).step_by(step) {
        if a.special_ids.contains(&id) || b.special_ids.contains(&id) {
            continue;
        }
        if a.raw(id).is_none() || b.raw(id).is_none() {
            continue;
        }
        let (x, y) = (ga.decode(a, id), gb.decode(b, id));
        out.compared += 1;
        if x != y {
            out.differing += 1;
            if out.examples.len() < 3 {
                out.examples.push((id, x, y));
            }
        }
    }
    out
}
