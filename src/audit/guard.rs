//! The leading-space guard. Tokenizers that add or eat a leading space (SentencePiece's
//! dummy prefix, `add_prefix_space`) would make every word-initial token look
//! unreachable; decoding and encoding behind a guard character (`«`, then `»`) that is one
//! token on its own cancels that, as the published method does.

use crate::vocab::Vocab;

const GUARDS: [char; 2] = ['«', '»'];
const SPACE_CHARS: [char; 4] = [' ', '▁', '_', 'Ġ'];

#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// Guard characters with their ids, in the order they are tried.
    guards: Vec<(char, u32)>,
}

impl Guard {
    /// Decide whether the tokenizer manipulates a leading space: the first raw token of
    /// `"test"` starts with a space marker.
    pub fn detect(vocab: &Vocab) -> Guard {
        let first = vocab
            .encode("test")
            .ok()
            .and_then(|ids| ids.first().copied());
        let manipulates = first
            .and_then(|id| vocab.raw(id))
            .and_then(|r| r.chars().next())
            .is_some_and(|c| SPACE_CHARS.contains(&c));
        if !manipulates {
            return Guard::default();
        }
        let guards = GUARDS
            .iter()
            .filter_map(|&g| match vocab.encode(&g.to_string()).ok()?.as_slice() {
                [id] => Some((g, *id)),
                _ => None,
            })
            .collect();
        Guard { guards }
    }

    pub fn char(&self) -> Option<char> {
        self.guards.first().map(|g| g.0)
    }

    pub fn decode(&self, vocab: &Vocab, id: u32) -> String {
        self.decode_ids(vocab, &[id])
    }

    /// Decode a sequence behind the guard.
    pub fn decode_ids(&self, vocab: &Vocab, ids: &[u32]) -> String {
        for &(g, gid) in &self.guards {
            let mut with = Vec::with_capacity(ids.len() + 1);
            with.push(gid);
            with.extend_from_slice(ids);
            let Ok(d) = vocab.decode(&with) else {
                continue;
            };
            let d = d.strip_prefix(' ').unwrap_or(&d);
            if let Some(rest) = d.strip_prefix(g) {
                return rest.to_string();
            }
        }
        vocab.decode(ids).unwrap_or_default()
    }

    pub fn encode(&self, vocab: &Vocab, text: &str) -> Vec<u32> {
        for &(g, gid) in &self.guards {
            let Ok(ids) = vocab.encode(&format!("{g}{text}")) else {
                continue;
            };
            if ids.first() == Some(&gid) {
                return ids[1..].to_vec();
            }
        }
        vocab.encode(text).unwrap_or_default()
    }
}
