//! Which tensors are the input embedding and the unembedding, by the names the common
//! model families use, and whether a model ties them when its config does not say.

/// Input embedding names, most common first: Llama/Mistral/Qwen2/Gemma/Phi-3/OLMo-hf,
/// GPT-2/Qwen-1/Falcon-style `transformer.*`, GPT-NeoX/Pythia, OLMo-1 original, Phi-1
/// original, bare GPT-2 (`wte.weight`), Meta's original Llama (`tok_embeddings.weight`),
/// BLOOM, Mamba.
pub const INPUT_NAMES: &[&str] = &[
    "model.embed_tokens.weight",
    "transformer.wte.weight",
    "gpt_neox.embed_in.weight",
    "model.embed_in.weight",
    "transformer.embd.wte.weight",
    "model.transformer.wte.weight",
    "embed_tokens.weight",
    "tok_embeddings.weight",
    "transformer.word_embeddings.weight",
    "word_embeddings.weight",
    "wte.weight",
    "backbone.embeddings.weight",
    "embed_in.weight",
];

/// Unembedding names: HF `lm_head`, GPT-NeoX `embed_out`, Meta/llama.cpp `output`, OLMo-1
/// `ff_out`, Phi-1 original `lm_head.linear`.
pub const OUTPUT_NAMES: &[&str] = &[
    "lm_head.weight",
    "embed_out.weight",
    "output.weight",
    "transformer.ff_out.weight",
    "model.transformer.ff_out.weight",
    "model.lm_head.weight",
    "lm_head.linear.weight",
];

/// Multimodal checkpoints keep the language model under a prefix: Llava/Gemma-3
/// (`language_model.model.embed_tokens.weight`, `language_model.lm_head.weight`) and the
/// newer transformers layout (`model.language_model.embed_tokens.weight`).
const PREFIXES: &[&str] = &["", "language_model.", "model.language_model."];

/// Last resort for the input embedding: a unique name with this ending.
const INPUT_SUFFIX: &str = "embed_tokens.weight";

/// `model_type`s whose transformers config class ties the embeddings when
/// `tie_word_embeddings` is absent (transformers' own default is to tie).
const TIED_BY_DEFAULT: &[&str] = &[
    "gpt2",
    "gpt_neo",
    "gpt_bigcode",
    "bloom",
    "opt",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3_text",
    "falcon",
    "mpt",
    "mamba",
    "starcoder2",
];

/// `model_type`s whose config class does not tie by default.
const UNTIED_BY_DEFAULT: &[&str] = &[
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "gpt_neox",
    "olmo",
    "olmo2",
    "olmoe",
    "phi",
    "phi3",
    "gptj",
    "stablelm",
    "deepseek_v2",
    "deepseek_v3",
    "internlm2",
];

/// What transformers does for this `model_type` when the config omits
/// `tie_word_embeddings`: `Some(true)` ties, `Some(false)` does not, `None` unknown.
pub fn default_tie(model_type: &str) -> Option<bool> {
    if TIED_BY_DEFAULT.contains(&model_type) {
        Some(true)
    } else if UNTIED_BY_DEFAULT.contains(&model_type) {
        Some(false)
    } else {
        None
    }
}

/// The first known name (with any multimodal prefix) that `has` accepts.
fn first_known(list: &[&str], has: &dyn Fn(&str) -> bool) -> Option<String> {
    for name in list {
        for prefix in PREFIXES {
            let full = format!("{prefix}{name}");
            if has(&full) {
                return Some(full);
            }
        }
    }
    None
}

/// The input embedding's name among `names`, or the candidates that made it ambiguous.
pub fn find_input(names: &[String]) -> Result<String, Vec<String>> {
    let has = |n: &str| names.iter().any(|x| x == n);
    if let Some(n) = first_known(INPUT_NAMES, &has) {
        return Ok(n);
    }
    let ending: Vec<String> = names
        .iter()
        .filter(|n| n.ends_with(INPUT_SUFFIX))
        .cloned()
        .collect();
    match ending.len() {
        1 => Ok(ending[0].clone()),
        _ => Err(ending),
    }
}

/// The unembedding's name among `names`, if any. `input` is never returned.
pub fn find_output(names: &[String], input: Option<&str>) -> Option<String> {
    let has = |n: &str| Some(n) != input && names.iter().any(|x| x == n);
    first_known(OUTPUT_NAMES, &has)
}

/// Up to `max` tensor names that could be embeddings, for an error message. `shape` gives
/// a tensor's shape when it is known without reading a shard; without it the name decides.
pub fn embedding_like(
    names: &[String],
    shape: &dyn Fn(&str) -> Option<Vec<usize>>,
    max: usize,
) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .filter(|n| match shape(n) {
            Some(s) => s.len() == 2 && s.iter().any(|&d| d >= 1000),
            None => {
                let l = n.to_ascii_lowercase();
                l.ends_with(".weight")
                    && ["emb", "wte", "lm_head", "word", "output", "head"]
                        .iter()
                        .any(|k| l.contains(k))
            }
        })
        .cloned()
        .collect();
    // Names that mention embeddings first, then the rest, each alphabetically.
    out.sort_by_key(|n| (!n.to_ascii_lowercase().contains("emb"), n.clone()));
    out.truncate(max);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_family_names() {
        let cases: &[(&[&str], &str, Option<&str>)] = &[
            (
                &["model.embed_tokens.weight", "lm_head.weight"],
                "model.embed_tokens.weight",
                Some("lm_head.weight"),
            ),
            (
                &["transformer.wte.weight", "h.0.attn.c_attn.weight"],
                "transformer.wte.weight",
                None,
            ),
            (&["wte.weight", "wpe.weight"], "wte.weight", None),
            (
                &["gpt_neox.embed_in.weight", "embed_out.weight"],
                "gpt_neox.embed_in.weight",
                Some("embed_out.weight"),
            ),
            (
                &[
                    "model.transformer.wte.weight",
                    "model.transformer.ff_out.weight",
                ],
                "model.transformer.wte.weight",
                Some("model.transformer.ff_out.weight"),
            ),
            (
                &["tok_embeddings.weight", "output.weight"],
                "tok_embeddings.weight",
                Some("output.weight"),
            ),
            (
                &[
                    "language_model.model.embed_tokens.weight",
                    "language_model.lm_head.weight",
                    "vision_tower.x.weight",
                ],
                "language_model.model.embed_tokens.weight",
                Some("language_model.lm_head.weight"),
            ),
            (
                &["model.language_model.embed_tokens.weight", "lm_head.weight"],
                "model.language_model.embed_tokens.weight",
                Some("lm_head.weight"),
            ),
            (
                &["decoder.embed_tokens.weight"],
                "decoder.embed_tokens.weight",
                None,
            ),
        ];
        for (names, input, output) in cases {
            let names = v(names);
            let i = find_input(&names).unwrap();
            assert_eq!(i, *input);
            assert_eq!(find_output(&names, Some(&i)).as_deref(), *output);
        }
    }

    #[test]
    fn ambiguous_suffix_is_not_guessed() {
        let names = v(&["a.embed_tokens.weight", "b.embed_tokens.weight"]);
        assert_eq!(find_input(&names).unwrap_err().len(), 2);
    }

    #[test]
    fn defaults() {
        assert_eq!(default_tie("gpt2"), Some(true));
        assert_eq!(default_tie("llama"), Some(false));
        assert_eq!(default_tie("something_new"), None);
    }
}
