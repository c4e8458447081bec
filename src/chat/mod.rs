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
        Ok(ChatTemplate {
            source: read_template(path)?,
            origin: path.display().to_string(),
            bos_token: token_text(vocab, vocab.bos_id),
            eos_token: token_text(vocab, vocab.eos_id),
        })
    }

    /// The model's own template: the one named `default` of [`model_templates`] (a
    /// single template always is). `None` when the model has none. `bos_token` /
    /// `eos_token` come from tokenizer_config.json where it names them, else from the
    /// tokenizer.
    pub fn find(model: &Path, vocab: &Vocab) -> Result<Option<ChatTemplate>> {
        let (all, cfg) = sources(model)?;
        if all.is_empty() {
            return Ok(None);
        }
        let Some(t) = all.into_iter().find(|t| t.name == "default") else {
            bail!(
                "{}: the chat templates are a list without one named \"default\"; give one \
                 with --chat-template",
                model.display()
            );
        };
        let names = cfg.map(|c| c.special_names()).unwrap_or_default();
        Ok(Some(ChatTemplate {
            source: t.source,
            origin: t.origin,
            bos_token: names.bos.or_else(|| token_text(vocab, vocab.bos_id)),
            eos_token: names.eos.or_else(|| token_text(vocab, vocab.eos_id)),
        }))
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

/// One chat template a model ships.
#[derive(Debug, Clone)]
pub struct Named {
    /// `default` unless tokenizer_config.json names it (`tool_use`, `rag`…).
    pub name: String,
    pub source: String,
    /// Where it was found, for messages.
    pub origin: String,
}

/// Every chat template the model ships, where it keeps them: a GGUF's
/// `tokenizer.chat_template`; in a directory (or beside a tokenizer file),
/// `chat_template.jinja` (transformers 5) or `tokenizer_config.json`'s `chat_template`
/// (a string, or a list of named templates). Empty when there is none.
pub fn model_templates(model: &Path) -> Result<Vec<Named>> {
    Ok(sources(model)?.0)
}

/// A template file, bounded and UTF-8.
fn read_template(path: &Path) -> Result<String> {
    let b = crate::util::text::read_bounded(path, MAX_TEMPLATE)
        .with_context(|| path.display().to_string())?;
    String::from_utf8(b)
        .map_err(|_| anyhow!("{}: the chat template is not UTF-8 text", path.display()))
}

/// The templates, and the tokenizer_config.json they were read with (for its special
/// token names).
fn sources(model: &Path) -> Result<(Vec<Named>, Option<crate::hf::TokenizerConfig>)> {
    let one = |source: String, origin: String| Named {
        name: "default".into(),
        source,
        origin,
    };
    if crate::model::quantized::is_gguf(model) {
        let f = crate::gguf::GgufFile::open(model)?;
        let t = f.get_str("tokenizer.chat_template").map(|t| {
            one(
                t.to_string(),
                format!("{} (tokenizer.chat_template)", model.display()),
            )
        });
        return Ok((t.into_iter().collect(), None));
    }
    let dir: PathBuf = if model.is_dir() {
        model.to_path_buf()
    } else {
        model.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let cfg = crate::hf::TokenizerConfig::read_in(&dir)?;
    let jinja = dir.join("chat_template.jinja");
    if jinja.is_file() {
        let source = read_template(&jinja)?;
        return Ok((vec![one(source, jinja.display().to_string())], cfg));
    }
    let Some(c) = &cfg else {
        return Ok((Vec::new(), None));
    };
    let origin = |what: &str| format!("{} ({what})", c.path().display());
    let all = match c.value().get("chat_template") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::String(s)) => vec![one(s.clone(), origin("chat_template"))],
        Some(serde_json::Value::Array(named)) => named
            .iter()
            .filter_map(|n| {
                let name = n.get("name")?.as_str()?;
                let source = n.get("template")?.as_str()?;
                Some(Named {
                    name: name.to_string(),
                    source: source.to_string(),
                    origin: origin(&format!("chat_template {name:?}")),
                })
            })
            .collect(),
        Some(other) => bail!(
            "{}: chat_template must be a string or a list, not {other}",
            c.path().display()
        ),
    };
    Ok((all, cfg))
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
    // Straight into minijinja values, so each message keeps its keys in file order.
    let v: Value = serde_json::from_slice(&b)
        .map_err(|e| anyhow!("{}: not a JSON list of messages: {e}", path.display()))?;
    if v.kind() != minijinja::value::ValueKind::Seq {
        bail!(
            "{}: expected a JSON list of {{\"role\", \"content\"}} messages",
            path.display()
        );
    }
    let msgs: Vec<Value> = v.try_iter().map_err(|e| anyhow!("{e}"))?.collect();
    for (i, m) in msgs.iter().enumerate() {
        let role = m.get_attr("role").ok();
        if role.as_ref().and_then(|r| r.as_str()).is_none() {
            bail!("{}: message {i} has no string \"role\"", path.display());
        }
    }
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
