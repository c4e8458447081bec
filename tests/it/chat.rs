//! Chat templates rendered as transformers renders them: the templates of three real GGUF
//! files (SmolLM2-135M-Instruct, llama.cpp's Phi-3 and Qwen2 vocabularies), four
//! conversations each with and without the generation prompt, byte for byte against
//! `apply_chat_template(…, tokenize=False)` (tests/chat/expected.json, made by
//! tests/chat/reference.py); and `encode --chat` on the real model.

use crate::common;

use std::process::Command;

use serde_json::Value;
use tokenaudit::chat::{self, ChatTemplate};
use tokenaudit::vocab::{self, LoadOptions};

fn here(p: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn templates_render_like_transformers() {
    let expected: Value =
        serde_json::from_slice(&std::fs::read(here("tests/chat/expected.json")).unwrap()).unwrap();
    let conversations: Value =
        serde_json::from_slice(&std::fs::read(here("tests/chat/conversations.json")).unwrap())
            .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (name, want) in expected["templates"].as_object().unwrap() {
        let file = common::data().join(want["file"].as_str().unwrap());
        let v = vocab::load(&file, &LoadOptions::default()).unwrap();
        let t = ChatTemplate::find(&file, &v)
            .unwrap()
            .expect("the file has a template");
        assert_eq!(t.bos_token.as_deref(), want["bos_token"].as_str(), "{name}");
        assert_eq!(t.eos_token.as_deref(), want["eos_token"].as_str(), "{name}");
        for case in want["cases"].as_array().unwrap() {
            let conv = conversations
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == case["name"])
                .unwrap();
            let path = tmp.path().join("m.json");
            std::fs::write(&path, conv["messages"].to_string()).unwrap();
            let msgs = chat::read_messages(&path).unwrap();
            let gen = case["add_generation_prompt"].as_bool().unwrap();
            let got = t.render(&msgs, gen);
            match case["text"].as_str() {
                Some(text) => {
                    let got = got.unwrap_or_else(|e| panic!("{name} {}: {e:#}", case["name"]));
                    assert_eq!(got, text, "{name} {} gen={gen}", case["name"]);
                }
                None => assert!(got.is_err(), "{name} {}: transformers raised", case["name"]),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 24);
}

#[test]
fn encode_chat_shows_the_prompt_and_its_ids() {
    let gguf = common::data().join("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    let tmp = tempfile::tempdir().unwrap();
    let msgs = tmp.path().join("chat.json");
    std::fs::write(&msgs, r#"[{"role": "user", "content": "Hi"}]"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
        .args(["encode", "--tokenizer"])
        .arg(&gguf)
        .arg("--chat")
        .arg(&msgs)
        .args(["--add-generation-prompt", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = v["text"].as_str().unwrap();
    assert!(
        text.ends_with("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"),
        "{text:?}"
    );
    let ids: Vec<u64> = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    // <|im_start|> (1) and <|im_end|> (2) are single special ids, as in the model's
    // training data, not their characters.
    assert_eq!(ids.iter().filter(|&&i| i == 1).count(), 3, "{ids:?}");
    assert_eq!(ids.iter().filter(|&&i| i == 2).count(), 2, "{ids:?}");
    assert_eq!(
        *ids.last().unwrap(),
        198,
        "ends with the newline after 'assistant'"
    );

    // A conversation that is not a list, a message without a role, no template: errors.
    for (body, want) in [
        (r#"{"role": "user"}"#, "expected a JSON list"),
        (r#"[{"content": "x"}]"#, "message 0 has no string \"role\""),
        ("[", "not a JSON list of messages"),
    ] {
        std::fs::write(&msgs, body).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
            .args(["encode", "--tokenizer"])
            .arg(&gguf)
            .arg("--chat")
            .arg(&msgs)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(want) && err.contains("chat.json"), "{err}");
    }
    std::fs::write(&msgs, r#"[{"role": "user", "content": "x"}]"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tokenaudit"))
        .args(["encode", "--tokenizer"])
        .arg(common::data().join("tokenizers/gpt2"))
        .arg("--chat")
        .arg(&msgs)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no chat template"), "{err}");
}
