//! tiktoken family presets. A rank file holds neither its split regex nor its special
//! tokens (they live in each model's Python code), so we keep them per family here.

use super::build::Added;
use super::split::{CL100K, GPT2, O200K, QWEN2};

/// A family: its regex, its specials (given the number of ranks), and its bos/eos.
#[derive(Debug, Clone)]
pub struct Preset {
    /// The name `--preset` accepts.
    pub name: &'static str,
    /// The split regex, from [`super::split`].
    pub pattern: &'static str,
    /// Rank count of the family's official file, used to guess the preset.
    pub n_ranks: Option<usize>,
    /// The bos token's text, when the family has one.
    pub bos: Option<&'static str>,
    /// The eos token's text, when the family has one.
    pub eos: Option<&'static str>,
    specials: fn(usize) -> Vec<Added>,
}

impl Preset {
    /// The family's special tokens; some start right after the last rank, hence `n_ranks`.
    pub fn specials(&self, n_ranks: usize) -> Vec<Added> {
        (self.specials)(n_ranks)
    }
}

fn consecutive(start: usize, names: Vec<String>) -> Vec<Added> {
    names
        .into_iter()
        .enumerate()
        .map(|(i, content)| Added {
            id: (start + i) as u32,
            content,
            special: true,
        })
        .collect()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn gpt2_specials(n: usize) -> Vec<Added> {
    consecutive(n, strs(&["<|endoftext|>"]))
}

fn cl100k_specials(_n: usize) -> Vec<Added> {
    [
        ("<|endoftext|>", 100257),
        ("<|fim_prefix|>", 100258),
        ("<|fim_middle|>", 100259),
        ("<|fim_suffix|>", 100260),
        ("<|endofprompt|>", 100276),
    ]
    .into_iter()
    .map(|(c, id)| Added {
        id,
        content: c.into(),
        special: true,
    })
    .collect()
}

fn llama3_specials(n: usize) -> Vec<Added> {
    let mut names = strs(&[
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|reserved_special_token_0|>",
        "<|reserved_special_token_1|>",
        "<|finetune_right_pad_id|>",
        "<|step_id|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eom_id|>",
        "<|eot_id|>",
        "<|python_tag|>",
        "<|image|>",
    ]);
    let fixed = names.len();
    names.extend((0..256 - fixed).map(|i| format!("<|reserved_special_token_{}|>", 2 + i)));
    consecutive(n, names)
}

fn llama4_specials(n: usize) -> Vec<Added> {
    let reserved = |name: &str, from: usize, count: usize| -> Vec<String> {
        (from..from + count)
            .map(|i| format!("<|{name}_reserved_special_token_{i}|>"))
            .collect()
    };
    let mut names = strs(&[
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|fim_prefix|>",
        "<|fim_middle|>",
        "<|fim_suffix|>",
        "<|header_start|>",
        "<|header_end|>",
        "<|eom|>",
        "<|eot|>",
        "<|step|>",
    ]);
    names.extend(reserved("text_post_train", 0, 6));
    names.extend(strs(&[
        "<|python_start|>",
        "<|python_end|>",
        "<|finetune_right_pad|>",
    ]));
    names.extend(reserved("text_post_train", 8, 61));
    names.extend(strs(&[
        "<|image_start|>",
        "<|image_end|>",
        "<|vision_reserved_special_token_0|>",
        "<|vision_reserved_special_token_1|>",
        "<|tile_x_separator|>",
        "<|tile_y_separator|>",
    ]));
    names.extend(reserved("vision", 2, 4));
    names.extend(strs(&[
        "<|image|>",
        "<|vision_reserved_special_token_6|>",
        "<|patch|>",
    ]));
    names.extend(reserved("vision", 7, 1041));
    names.extend(reserved("reasoning", 0, 8));
    names.extend(strs(&[
        "<|reasoning_thinking_start|>",
        "<|reasoning_thinking_end|>",
    ]));
    let fixed = names.len();
    names.extend((0..2048 - fixed).map(|i| format!("<|reserved_special_token_{i}|>")));
    consecutive(n, names)
}

fn qwen_specials(n: usize) -> Vec<Added> {
    let mut names = strs(&["<|endoftext|>", "<|im_start|>", "<|im_end|>"]);
    names.extend((0..205).map(|i| format!("<|extra_{i}|>")));
    consecutive(n, names)
}

fn no_specials(_n: usize) -> Vec<Added> {
    Vec::new()
}

/// All known presets. `n_ranks` lets us guess one from an unnamed file.
pub fn all() -> Vec<Preset> {
    vec![
        Preset {
            name: "llama3",
            pattern: CL100K,
            n_ranks: Some(128_000),
            bos: Some("<|begin_of_text|>"),
            eos: Some("<|end_of_text|>"),
            specials: llama3_specials,
        },
        Preset {
            name: "llama4",
            pattern: O200K,
            n_ranks: Some(200_000),
            bos: Some("<|begin_of_text|>"),
            eos: Some("<|end_of_text|>"),
            specials: llama4_specials,
        },
        Preset {
            name: "cl100k",
            pattern: CL100K,
            n_ranks: Some(100_256),
            bos: None,
            eos: Some("<|endoftext|>"),
            specials: cl100k_specials,
        },
        Preset {
            name: "qwen",
            pattern: QWEN2,
            n_ranks: Some(151_643),
            bos: None,
            eos: Some("<|endoftext|>"),
            specials: qwen_specials,
        },
        Preset {
            name: "gpt2",
            pattern: GPT2,
            n_ranks: Some(50_256),
            bos: None,
            eos: Some("<|endoftext|>"),
            specials: gpt2_specials,
        },
        Preset {
            name: "plain",
            pattern: CL100K,
            n_ranks: None,
            bos: None,
            eos: None,
            specials: no_specials,
        },
    ]
}

/// A preset by name or common alias ("cl100k_base", "gpt-4"), case-insensitively.
pub fn by_name(name: &str) -> Option<Preset> {
    let name = name.to_ascii_lowercase();
    let alias = match name.as_str() {
        "cl100k_base" | "gpt4" | "gpt-4" | "gpt-3.5" => "cl100k",
        "llama-3" | "llama3.1" | "llama-3.1" => "llama3",
        "llama-4" => "llama4",
        "qwen1" | "qwen-7b" => "qwen",
        "r50k" | "r50k_base" | "gpt-2" => "gpt2",
        other => other,
    };
    all().into_iter().find(|p| p.name == alias)
}

/// Guess from the number of ranks; `None` when no family has that size.
pub fn guess(n_ranks: usize) -> Option<Preset> {
    all().into_iter().find(|p| p.n_ranks == Some(n_ranks))
}

/// The preset names, for the message listing what `--preset` accepts.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|p| p.name).collect()
}
