//! Chat templates: the model's own Jinja template rendered the way transformers'
//! `apply_chat_template(…, tokenize=False)` renders it, so an instruct model is prompted
//! in the format it was trained on. The engine is minijinja configured as transformers
//! configures Jinja2 (`trim_blocks`, `lstrip_blocks`, loop controls, Python's string and
//! dict methods), with the functions and filters Hugging Face templates call
//! (`raise_exception`, `strftime_now`, a `tojson` that writes what Python's `json.dumps`
//! writes). A template feature the engine does not have is an error naming it, never a
//! silently different prompt.

mod json;
mod time;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use minijinja::{Environment, Error, ErrorKind, Value};

use crate::vocab::Vocab;

/// Sidecars are small; this bounds a link to /dev/zero.
const MAX_TEMPLATE: u64 = 16 << 20;

/// One message of a conversation (`{"role", "content", …}`: any other keys, such as
/// `tool_calls`, are passed to the template as they are).
pub type Message = Value;

/// A chat template and the special-token strings it is rendered with.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    /// The Jinja source.
    pub source: String,
    /// Where it was found, for messages (`tokenizer_config.json`, a GGUF's
    /// `tokenizer.chat_template`, a file given with `--chat-template`).
    pub origin: String,
    /// `bos_token` and `eos_token` as the template sees them.
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
}

impl ChatTemplate {
    /// The template at `path` (a `--chat-template FILE`), with the special tokens of
    /// `vocab`.
    pub fn from_file(path: &Path, vocab: &Vocab) -> Result<ChatTemplate> {
        let b = crate::util::text::read_bounded(path, MAX_TEMPLATE)
            .with_context(|| path.display().to_string())?;
        let source = String::from_utf8(b)
            .map_err(|_| anyhow!("{}: the chat template is not UTF-8 text", path.display()))?;
        Ok(ChatTemplate {
            source,
            origin: path.display().to_string(),
            bos_token: token_text(vocab, vocab.bos_id),
            eos_token: token_text(vocab, vocab.eos_id),
        })
    }

    /// The model's own template: a GGUF's `tokenizer.chat_template`; in a directory,
    /// `chat_template.jinja` (transformers 5) or `tokenizer_config.json`'s `chat_template`
    /// (a string, or a list of named templates, of which `default` is used). `None` when
    /// the model has none. `bos_token`/`eos_token` come from tokenizer_config.json where it
    /// names them, else from the tokenizer.
    pub fn find(model: &Path, vocab: &Vocab) -> Result<Option<ChatTemplate>> {
        let from_vocab = |source: String, origin: String| ChatTemplate {
            source,
            origin,
            bos_token: token_text(vocab, vocab.bos_id),
            eos_token: token_text(vocab, vocab.eos_id),
        };
        if crate::model::quantized::is_gguf(model) {
            let f = crate::gguf::GgufFile::open(model)?;
            return Ok(f.get_str("tokenizer.chat_template").map(|t| {
                from_vocab(
                    t.to_string(),
                    format!("{} (tokenizer.chat_template)", model.display()),
                )
            }));
        }
        let dir: PathBuf = if model.is_dir() {
            model.to_path_buf()
        } else {
            model.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        let jinja = dir.join("chat_template.jinja");
        let mut t = if jinja.is_file() {
            Some(ChatTemplate::from_file(&jinja, vocab)?)
        } else {
            None
        };
        let cfg = crate::hf::TokenizerConfig::read_in(&dir)?;
        if let Some(cfg) = &cfg {
            if t.is_none() {
                t = match cfg.value().get("chat_template") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::String(s)) => Some(from_vocab(
                        s.clone(),
                        format!("{} (chat_template)", cfg.path().display()),
                    )),
                    Some(serde_json::Value::Array(named)) => {
                        let pick = named
                            .iter()
                            .find(|n| n.get("name").and_then(|x| x.as_str()) == Some("default"))
                            .and_then(|n| n.get("template").and_then(|x| x.as_str()));
                        let Some(src) = pick else {
                            bail!(
                                "{}: chat_template is a list without a template named \
                                 \"default\"; give one with --chat-template",
                                cfg.path().display()
                            );
                        };
                        Some(from_vocab(
                            src.to_string(),
                            format!("{} (chat_template \"default\")", cfg.path().display()),
                        ))
                    }
                    Some(other) => bail!(
                        "{}: chat_template must be a string or a list, not {other}",
                        cfg.path().display()
                    ),
                };
            }
            if let Some(t) = t.as_mut() {
                let names = cfg.special_names();
                t.bos_token = names.bos.or(t.bos_token.take());
                t.eos_token = names.eos.or(t.eos_token.take());
            }
        }
        Ok(t)
    }

    /// The prompt text for `messages`, with the assistant's turn opened when
    /// `add_generation_prompt` (what `apply_chat_template(…, tokenize=False)` returns).
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let env = environment();
        let tmpl = env
            .template_from_str(&self.source)
            .map_err(|e| self.error(e))?;
        let ctx = minijinja::context! {
            messages => Value::from(messages.to_vec()),
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.clone().unwrap_or_default(),
            eos_token => self.eos_token.clone().unwrap_or_default(),
        };
        tmpl.render(ctx).map_err(|e| self.error(e))
    }

    fn error(&self, e: Error) -> anyhow::Error {
        let mut msg = format!("{}: chat template: {e}", self.origin);
        if let Some(d) = e.detail() {
            if !msg.contains(d) {
                msg.push_str(&format!(" ({d})"));
            }
        }
        if let Some(line) = e.line() {
            msg.push_str(&format!(" at line {line}"));
        }
        anyhow!(msg.replace('\n', " "))
    }
}

/// How `generate` and `eval` put a prompt to an instruct model: an optional system
/// message and the prompt as the user's message, rendered with the model's template and
/// the assistant's turn opened.
#[derive(Debug, Clone)]
pub struct ChatPrompt {
    pub template: ChatTemplate,
    pub system: Option<String>,
}

impl ChatPrompt {
    /// The rendered prompt and its ids. No BOS is added: the template writes it where
    /// the model expects it (transformers encodes the rendered text without special
    /// tokens too).
    pub fn ids(&self, vocab: &Vocab, user: &str) -> Result<(String, Vec<u32>)> {
        let mut msgs = Vec::new();
        if let Some(sys) = &self.system {
            msgs.push(minijinja::context! { role => "system", content => sys });
        }
        msgs.push(minijinja::context! { role => "user", content => user });
        let text = self.template.render(&msgs, true)?;
        let ids = vocab.encode(&text).map_err(|e| {
            anyhow!(
                "{}: cannot encode the chat prompt: {e}",
                vocab.source.display()
            )
        })?;
        Ok((text, ids))
    }

    /// The ids that end the assistant's turn: the template's `eos_token` when the
    /// vocabulary holds it as one token (`<|im_end|>`, `<|end|>`, `<|eot_id|>`).
    pub fn end_of_turn(&self, vocab: &Vocab) -> Vec<u32> {
        self.template
            .eos_token
            .as_deref()
            .and_then(|t| vocab.tokenizer.token_to_id(t))
            .into_iter()
            .collect()
    }
}

/// A token's text as a template sees it (`<s>`, `<|im_start|>`).
fn token_text(vocab: &Vocab, id: Option<u32>) -> Option<String> {
    id.and_then(|i| vocab.raw(i)).map(str::to_string)
}

/// Read a conversation: a JSON list of message objects, each with a string `role`.
pub fn read_messages(path: &Path) -> Result<Vec<Message>> {
    let b = crate::util::text::read_bounded(path, crate::util::text::MAX_INPUT)
        .with_context(|| path.display().to_string())?;
    let v: serde_json::Value = serde_json::from_slice(&b)
        .map_err(|e| anyhow!("{}: not a JSON list of messages: {e}", path.display()))?;
    let Some(list) = v.as_array() else {
        bail!(
            "{}: expected a JSON list of {{\"role\", \"content\"}} messages",
            path.display()
        );
    };
    for (i, m) in list.iter().enumerate() {
        if m.get("role").and_then(|r| r.as_str()).is_none() {
            bail!("{}: message {i} has no string \"role\"", path.display());
        }
    }
    // Through minijinja's own deserializer, so each message keeps its keys in file order.
    let msgs: Vec<Value> =
        serde_json::from_slice(&b).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(msgs)
}

/// The environment transformers builds for chat templates, in minijinja.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(false);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", |msg: String| -> Result<Value, Error> {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("the template raised: {msg}"),
        ))
    });
    env.add_function("strftime_now", time::strftime_now);
    env.add_filter("tojson", json::tojson);
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, msgs: serde_json::Value, gen: bool) -> Result<String> {
        let t = ChatTemplate {
            source: src.into(),
            origin: "t".into(),
            bos_token: Some("<s>".into()),
            eos_token: Some("</s>".into()),
        };
        let m: Vec<Value> = serde_json::from_value(msgs).unwrap();
        t.render(&m, gen)
    }

    #[test]
    fn chatml_with_trim_and_lstrip() {
        // Jinja2 with trim_blocks and lstrip_blocks gives exactly this (checked in Python):
        // the indent before a block tag goes, the indent before text stays.
        let src = "{% for m in messages %}\n  <|im_start|>{{ m['role'] }}\n{{ m['content'] | trim }}<|im_end|>\n  {% endfor %}\n{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}\n";
        let out = render(
            src,
            serde_json::json!([{"role": "user", "content": " hi "}]),
            true,
        )
        .unwrap();
        assert_eq!(
            out,
            "  <|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn raise_exception_and_loop_controls_and_python_methods() {
        let e = render(
            "{{ raise_exception('only user and assistant') }}",
            serde_json::json!([]),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("only user and assistant"), "{e}");
        let out = render(
            "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}{{ m.content.strip().upper() }}{% endfor %}",
            serde_json::json!([{"role": "user", "content": " a "}, {"role": "user", "content": "b"}]),
            false,
        )
        .unwrap();
        assert_eq!(out, "A");
        let e = render(
            "{% generation %}x{% endgeneration %}",
            serde_json::json!([]),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("t: chat template:"), "{e}");
    }
}
