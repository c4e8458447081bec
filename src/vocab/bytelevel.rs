//! The GPT-2 byte-to-unicode table: byte-level BPE vocabularies store every byte as a
//! printable character, so raw entries must be mapped back to bytes before they mean
//! anything (and tiktoken's raw bytes mapped forward to match Hugging Face files).

use std::sync::OnceLock;

fn tables() -> &'static ([char; 256], std::collections::HashMap<char, u8>) {
    static T: OnceLock<([char; 256], std::collections::HashMap<char, u8>)> = OnceLock::new();
    T.get_or_init(|| {
        let mut table = ['\0'; 256];
        let printable = |b: u32| {
            (b'!' as u32..=b'~' as u32).contains(&b)
                || (0xA1..=0xAC).contains(&b)
                || (0xAE..=0xFF).contains(&b)
        };
        let mut n = 0u32;
        for b in 0..256u32 {
            table[b as usize] = if printable(b) {
                char::from_u32(b).unwrap_or('\0')
            } else {
                n += 1;
                char::from_u32(255 + n).unwrap_or('\0')
            };
        }
        let rev = table
            .iter()
            .enumerate()
            .map(|(b, c)| (*c, b as u8))
            .collect();
        (table, rev)
    })
}

/// The character that stands for byte `b`.
pub fn byte_char(b: u8) -> char {
    tables().0[b as usize]
}

/// Map raw bytes to their byte-level string.
pub fn bytes_to_string(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| byte_char(b)).collect()
}

/// Map a byte-level string back to bytes; `None` if a character is not in the table.
pub fn string_to_bytes(s: &str) -> Option<Vec<u8>> {
    let rev = &tables().1;
    s.chars().map(|c| rev.get(&c).copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_a_bijection_with_known_points() {
        assert_eq!(byte_char(b' '), 'Ġ');
        assert_eq!(byte_char(b'\n'), 'Ċ');
        assert_eq!(byte_char(b'A'), 'A');
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(string_to_bytes(&bytes_to_string(&all)).unwrap(), all);
    }
}
