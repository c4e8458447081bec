//! Pre-tokenizer split regexes, each written once: the GGUF `tokenizer.ggml.pre` table
//! (`gguf::pre`) and the tiktoken presets (`presets`) name the same patterns, so a fix
//! to one cannot miss the other.
//!
//! The patterns are fancy-regex syntax, as the `tokenizers` crate compiles them. Where
//! llama.cpp rewrites a pattern for std::regex, we keep the tokenizer.json original,
//! because that is what the test vectors were generated with.

/// GPT-2 / r50k: digits merge freely (` ?\p{N}+`). llama.cpp lists it without the final
/// `|\s+` (its hand-written GPT-2 splitter implements the full pattern); we keep the
/// original, as Hugging Face does.
pub const GPT2: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// cl100k and Llama-3: digits in runs of at most three, left to right. llama.cpp rewrites `(?i:'s|…)` as `(?:'[sS]|…)` because std::regex lacks
/// inline flags; fancy-regex has them, so this is the tokenizer.json original.
pub const CL100K: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen and Qwen2: as [`CL100K`] but single digits (tokenizer.json original).
pub const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen3.5: letters keep their combining marks (tokenizer.json original).
pub const QWEN35: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Tekken (Mistral Nemo). llama.cpp emulates the case classes with look-aheads;
/// fancy-regex has `\p{Lu}` etc., so this is the tokenizer.json original.
pub const TEKKEN: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// o200k: GPT-4o and Llama-4 (meta-llama/llama-models `models/llama4/tokenizer.py`;
/// tokenizer.json original, see [`TEKKEN`]).
pub const O200K: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// CJK runs shared by the DeepSeek pre-tokenizers.
pub const DEEPSEEK_CJK: &str = "[一-龥ࠀ-一가-퟿]+";

/// DeepSeek LLM letters: the explicit ranges of its tokenizer.json (not `\p{L}`). Six of
/// them are written as `\x{…}` escapes because those characters (U+1F7D, U+1FBE, U+1FD3,
/// U+1FDB, U+2126, U+212A) are Unicode singletons that NFC normalization, which text tools
/// may apply silently, turns into other characters and so into reversed ranges.
pub const DEEPSEEK_LLM_LETTERS: &str = r"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\x{1F7D}ᾀ-ᾴᾶ-ᾼ\x{1FBE}ῂ-ῄῆ-ῌῐ-\x{1FD3}ῖ-\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\x{2126}ℨ\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+";

/// DeepSeek-V3 main pattern (also Hunyuan-dense, JoyAI).
pub const DEEPSEEK3_MAIN: &str = r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##;

/// BLOOM / Poro / GPT-3-Finnish: everything up to whitespace or listed punctuation.
pub const BLOOM: &str = r" ?[^(\s|.,!?…。，、।۔،)]+";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deepseek_letters_keep_nfc_unstable_characters() {
        let re = fancy_regex::Regex::new(DEEPSEEK_LLM_LETTERS).expect("compiles");
        for c in [
            '\u{1F7D}', '\u{1FBE}', '\u{1FD3}', '\u{1FDB}', '\u{2126}', '\u{212A}',
        ] {
            let text = c.to_string();
            let m = re.find(&text).expect("no error");
            assert!(m.is_some(), "U+{:04X} should be a letter", c as u32);
        }
        assert!(re.find("\u{2129}").expect("no error").is_none());
    }
}
