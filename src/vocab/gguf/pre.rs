//! The `tokenizer.ggml.pre` table: how each of llama.cpp's pre-tokenizer types splits
//! text before the byte-level BPE merges, as regexes from [`crate::vocab::split`].

use crate::vocab::split::{
    BLOOM, CL100K, DEEPSEEK3_MAIN, DEEPSEEK_CJK, DEEPSEEK_LLM_LETTERS, GPT2, O200K, QWEN2, QWEN35,
    TEKKEN,
};

/// How one llama.cpp `pre` type splits text: regexes applied in turn (each splits the
/// pieces of the previous one, keeping matches and gaps), and whether a piece that is
/// itself in the vocabulary skips the merges (`ignore_merges`, as Hugging Face's Llama-3
/// tokenizer and llama.cpp do).
pub(super) struct PreSpec {
    pub(super) regexes: Vec<&'static str>,
    pub(super) ignore_merges: bool,
}

/// The split regexes per `tokenizer.ggml.pre`, from the `llm_tokenizer_bpe` constructor
/// and `llama_vocab::impl::load` in llama.cpp's `src/llama-vocab.cpp`. Types whose
/// splitting llama.cpp implements in code rather than regexes (kimi-k2, afmoe, superbpe)
/// or that are not byte-level (gemma4, sarvam-moe, whitespace) are not supported.
pub(super) fn pre_spec(pre: &str) -> Option<PreSpec> {
    let spec = |regexes: Vec<&'static str>, ignore_merges| {
        Some(PreSpec {
            regexes,
            ignore_merges,
        })
    };
    match pre {
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" | "jina-v5-nano" => spec(vec![CL100K], true),
        "dbrx" | "smaug-bpe" | "glm4" | "chatglm-bpe" => spec(vec![CL100K], false),
        "deepseek-llm" => spec(
            vec![
                "[\r\n]",
                DEEPSEEK_LLM_LETTERS,
                r"\s?[!-/:-~！-／：-～‘-‟　-。]+",
                r"\s+$",
                DEEPSEEK_CJK,
                r"\p{N}+",
            ],
            false,
        ),
        "deepseek-coder" => spec(
            vec!["[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", DEEPSEEK_CJK, r"\p{N}"],
            false,
        ),
        "deepseek-v3" | "hunyuan-dense" | "joyai-llm" | "hy_v4" => spec(
            vec![r"\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+", DEEPSEEK3_MAIN],
            false,
        ),
        "falcon" => spec(
            vec![r"[\p{P}\$\+<=>\^~\|`]+", GPT2, "[0-9][0-9][0-9]"],
            false,
        ),
        "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone" | "minerva-7b"
        | "mellum2" => spec(vec![r"\p{N}", GPT2], false),
        "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de"
        | "a.x-4.0" | "mellum" | "modern-bert" | "jina-v1-en" | "jina-v2-code" | "roberta-bpe"
        | "exaone4" | "mpt" | "olmo" | "jais" | "trillion" | "granite-docling" => {
            spec(vec![GPT2], false)
        }
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "megrez" | "stablelm2" | "hunyuan"
        | "solar-open" | "grok-2" => spec(vec![QWEN2], false),
        "qwen35" => spec(vec![QWEN35], false),
        "tekken" => spec(vec![TEKKEN], true),
        "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => spec(vec![O200K], false),
        "poro-chat" | "bloom" | "gpt3-finnish" => spec(vec![BLOOM], false),
        "viking" => spec(vec![BLOOM, r"\p{N}"], false),
        "chameleon" => spec(
            vec![
                "<sentinel:[0-9]+>",
                "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
                "([\\t\\n]|    |  )",
                r"\p{N}",
                r"[\p{P}!-/:-@\[-`{-~]",
                GPT2,
            ],
            false,
        ),
        "default" => spec(
            vec![r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"],
            false,
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pre_regex_compiles() {
        let pres = [
            "llama-bpe",
            "dbrx",
            "deepseek-llm",
            "deepseek-coder",
            "deepseek-v3",
            "falcon",
            "starcoder",
            "gpt-2",
            "qwen2",
            "qwen35",
            "tekken",
            "gpt-4o",
            "bloom",
            "viking",
            "chameleon",
            "default",
        ];
        for p in pres {
            let spec = pre_spec(p).expect(p);
            for r in spec.regexes {
                if let Err(e) = fancy_regex::Regex::new(r) {
                    panic!("{p}: {r}: {e}");
                }
            }
        }
        assert!(pre_spec("kimi-k2").is_none());
    }
}
