//! The four digit schemes and the pre-tokenization stage that applies one to a tokenizer.
//!
//! A scheme is a partition of every run of digits (Unicode category N, as the tokenizers'
//! own regexes use `\p{N}`) into groups. It is applied as one extra `Split` pre-tokenizer
//! (fancy-regex) placed in front of a clone of the tokenizer's own pre-tokenization, so
//! the vocabulary, the merges, the normalizer and the rest of the pipeline stay the same:
//! only the places where digits may be cut change.
//!
//! The split keeps the text before a group attached to it (`MergedWithPrevious`): a
//! number's leading space stays where the tokenizer's own regex puts it (GPT-2 ` 123`),
//! and nothing but the digit cuts changes. Each piece ends with exactly one group, so no
//! token can ever hold digits of two groups.

use std::fmt;
use std::str::FromStr;

use tokenizers::pre_tokenizers::metaspace::PrependScheme;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{SplitDelimiterBehavior, Tokenizer};

/// One way of cutting digit runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// The tokenizer's own pre-tokenization, unchanged.
    Own,
    /// Every digit alone (`\p{N}`): Llama-2, Mistral, Qwen, HF `Digits(individual_digits)`.
    One,
    /// Groups of three from the left (`\p{N}{1,3}`): cl100k, Llama-3. 1234567 → 123|456|7.
    L2r,
    /// Groups of three from the right, aligned to place value. 1234567 → 1|234|567.
    R2l,
}

/// The digit class the schemes cut (the tokenizers' own regexes use the same class).
pub const ONE_PATTERN: &str = r"\p{N}";
/// Greedy groups of up to three digits, as cl100k and Llama-3 split them.
pub const L2R_PATTERN: &str = r"\p{N}{1,3}";
/// A group of 1–3 digits followed by a multiple of three digits and then no digit:
/// `\p{N}{1,3}(?=(?:\p{N}{3})*(?!\p{N}))`, written with a constant-size first digit so
/// that fancy-regex rejects a non-digit position sooner (its scan is 1.3–1.8x faster).
pub const R2L_PATTERN: &str = r"\p{N}\p{N}?\p{N}?(?=(?:\p{N}{3})*(?!\p{N}))";

impl Scheme {
    /// Every scheme, in the default order of the comparison (the baseline first).
    pub const ALL: [Scheme; 4] = [Scheme::Own, Scheme::One, Scheme::L2r, Scheme::R2l];

    /// The short key used on the command line and in CSV/JSON: `own`, `1`, `l2r`, `r2l`.
    pub fn key(self) -> &'static str {
        match self {
            Scheme::Own => "own",
            Scheme::One => "1",
            Scheme::L2r => "l2r",
            Scheme::R2l => "r2l",
        }
    }

    /// The name used in tables.
    pub fn label(self) -> &'static str {
        match self {
            Scheme::Own => "own",
            Scheme::One => "1-digit",
            Scheme::L2r => "3-digit L2R",
            Scheme::R2l => "3-digit R2L",
        }
    }

    /// The regex of the digit stage (`None` for the tokenizer's own scheme).
    pub fn pattern(self) -> Option<&'static str> {
        match self {
            Scheme::Own => None,
            Scheme::One => Some(ONE_PATTERN),
            Scheme::L2r => Some(L2R_PATTERN),
            Scheme::R2l => Some(R2L_PATTERN),
        }
    }

    /// Largest group the scheme makes (`None`: unbounded, the tokenizer decides).
    pub fn max_group(self) -> Option<usize> {
        match self {
            Scheme::Own => None,
            Scheme::One => Some(1),
            Scheme::L2r | Scheme::R2l => Some(3),
        }
    }

    /// Group lengths for a run of `n` digits, left to right (`None` for `Own`). The
    /// reference the regex stage is tested against.
    pub fn group_lengths(self, n: usize) -> Option<Vec<usize>> {
        if n == 0 {
            return Some(Vec::new());
        }
        match self {
            Scheme::Own => None,
            Scheme::One => Some(vec![1; n]),
            Scheme::L2r => {
                let mut g = vec![3; n / 3];
                if !n.is_multiple_of(3) {
                    g.push(n % 3);
                }
                Some(g)
            }
            Scheme::R2l => {
                let mut g = Vec::with_capacity(n / 3 + 1);
                if !n.is_multiple_of(3) {
                    g.push(n % 3);
                }
                g.extend(std::iter::repeat_n(3, n / 3));
                Some(g)
            }
        }
    }

    /// The digit pre-tokenization stage itself.
    pub fn stage(self) -> Result<Option<PreTokenizerWrapper>, String> {
        let Some(p) = self.pattern() else {
            return Ok(None);
        };
        let split = Split::new(
            SplitPattern::Regex(p.to_string()),
            SplitDelimiterBehavior::MergedWithPrevious,
            false,
        )
        .map_err(|e| format!("digit stage {p:?}: {e}"))?;
        Ok(Some(split.into()))
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl FromStr for Scheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "own" | "native" => Ok(Scheme::Own),
            "1" | "one" | "1-digit" | "single" => Ok(Scheme::One),
            "l2r" | "3" | "3-l2r" => Ok(Scheme::L2r),
            "r2l" | "3-r2l" => Ok(Scheme::R2l),
            other => Err(format!(
                "unknown digit scheme {other:?} (expected own, 1, l2r or r2l)"
            )),
        }
    }
}

/// Where the digit stage goes in a pipeline, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The scheme is the tokenizer's own: nothing added.
    None,
    /// In front of the whole pre-tokenization (or as the only pre-tokenizer when the
    /// tokenizer has none, e.g. SentencePiece BPE whose `▁` comes from the normalizer).
    Front,
    /// Right after the first stage, because that stage adds a prefix to every piece it is
    /// given (Metaspace `prepend_scheme: always`, ByteLevel `add_prefix_space`): in front
    /// of it, each digit group would get its own `▁` or space.
    AfterPrefix,
}

impl Placement {
    /// Where the stage went, in words for the tables and the JSON.
    pub fn describe(self) -> &'static str {
        match self {
            Placement::None => "tokenizer's own pipeline",
            Placement::Front => "in front of the pre-tokenizer",
            Placement::AfterPrefix => "after the prefixing first stage",
        }
    }
}

/// Does this pre-tokenizer add a prefix to every piece it is handed?
fn prefixes_every_piece(p: &PreTokenizerWrapper) -> bool {
    match p {
        PreTokenizerWrapper::Metaspace(m) => m.get_prepend_scheme() == PrependScheme::Always,
        PreTokenizerWrapper::ByteLevel(b) => b.add_prefix_space,
        _ => false,
    }
}

/// A clone of `tokenizer` with the scheme's digit stage added, and where it went.
pub fn apply(tokenizer: &Tokenizer, scheme: Scheme) -> Result<(Tokenizer, Placement), String> {
    let mut tk = tokenizer.clone();
    let Some(stage) = scheme.stage()? else {
        return Ok((tk, Placement::None));
    };
    let own: Vec<PreTokenizerWrapper> = match tokenizer.get_pre_tokenizer().cloned() {
        None => Vec::new(),
        Some(PreTokenizerWrapper::Sequence(s)) => s.into_iter().collect(),
        Some(p) => vec![p],
    };
    let (seq, placement) = match own.first() {
        Some(first) if prefixes_every_piece(first) => {
            let mut seq = Vec::with_capacity(own.len() + 1);
            let mut rest = own.into_iter();
            seq.extend(rest.next());
            seq.push(stage);
            seq.extend(rest);
            (seq, Placement::AfterPrefix)
        }
        _ => {
            let mut seq = Vec::with_capacity(own.len() + 1);
            seq.push(stage);
            seq.extend(own);
            (seq, Placement::Front)
        }
    };
    tk.with_pre_tokenizer(Some(PreSequence::new(seq)));
    Ok((tk, placement))
}

/// A vocabulary's tokenizer under one scheme: the pipeline with the digit stage (the
/// tokenizer itself for `Own`).
///
/// Every text goes through the stage, also text without digits (which it leaves as it
/// is): dispatching such lines to a second, unchanged copy of the tokenizer was measured
/// slower, because two copies of a large vocabulary share the CPU caches badly.
pub struct Schemed {
    /// The scheme applied.
    pub scheme: Scheme,
    /// Where its digit stage went, reported since it changes what the scheme does.
    pub placement: Placement,
    /// The pipeline with the stage.
    pub tokenizer: Tokenizer,
}

impl Schemed {
    /// The tokenizer under `scheme`; an error when the stage cannot be built.
    pub fn new(tokenizer: &Tokenizer, scheme: Scheme) -> Result<Schemed, String> {
        let (tokenizer, placement) = apply(tokenizer, scheme)?;
        Ok(Schemed {
            scheme,
            placement,
            tokenizer,
        })
    }

    /// Token ids of `text` (no BOS/EOS).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        self.tokenizer
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| e.to_string())
    }

    /// The full encoding (ids, pieces, byte offsets into `text`).
    pub fn encoding(&self, text: &str) -> Result<tokenizers::Encoding, String> {
        self.tokenizer
            .encode(text, false)
            .map_err(|e| e.to_string())
    }

    /// Number of tokens of `text`.
    pub fn count(&self, text: &str) -> Result<usize, String> {
        self.tokenizer
            .encode_fast(text, false)
            .map(|e| e.len())
            .map_err(|e| e.to_string())
    }
}
