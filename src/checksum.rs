//! Checksums of source regions.
//!
//! # Stability contract
//!
//! A checksum is stored in the database and compared with one computed by a later run, possibly
//! by a later version of this crate or on another operating system. It must therefore depend
//! only on the *meaning-bearing text* of a region:
//!
//! * it is the 64-bit FNV-1a hash of the region's tokens, each token's source text followed by a
//!   `0` byte; logical newlines, indents and dedents contribute a fixed marker instead of their
//!   (whitespace) text;
//! * comments and non-logical newlines (line breaks inside brackets, blank lines) are skipped, and
//!   whitespace between tokens is never seen, so reformatting that keeps the tokens keeps the
//!   checksum; line endings inside tokens (multi-line strings) are normalised to `\n`;
//! * dedents that close code before the range (or before a hole) are skipped;
//! * nothing positional (line numbers, byte offsets) is hashed, so moving a block keeps it;
//! * docstrings and every other string literal count, with their quotes.
//!
//! Changing any of this changes every stored checksum: bump `SCHEMA_VERSION` in `store::schema`
//! so that old databases are rebuilt instead of silently mismatching.

use ruff_python_ast::token::{Token, TokenKind};
use ruff_text_size::{Ranged, TextRange};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// An incremental 64-bit FNV-1a hasher: tiny, dependency-free and identical on every platform.
#[derive(Clone, Copy, Debug)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Self(FNV_OFFSET)
    }
}

impl Fnv64 {
    /// Feeds `bytes` into the hash.
    pub fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    /// Feeds a number into the hash (little-endian, so the result is platform independent).
    pub fn write_u64(&mut self, value: u64) {
        self.write(&value.to_le_bytes());
    }

    /// The hash as a signed integer, the type SQLite stores natively.
    #[must_use]
    pub fn finish(self) -> i64 {
        i64::from_le_bytes(self.0.to_le_bytes())
    }
}

/// Hashes raw bytes (file contents, unparsable files).
#[must_use]
pub fn hash_bytes(bytes: &[u8]) -> i64 {
    let mut hasher = Fnv64::default();
    hasher.write(bytes);
    hasher.finish()
}

/// Feeds the tokens of `tokens` that lie inside `range` into `hasher`, skipping the ones that lie
/// inside any of `holes` (used to leave function bodies out of a class's checksum).
pub fn hash_tokens(
    hasher: &mut Fnv64,
    source: &str,
    tokens: &[Token],
    range: TextRange,
    holes: &[TextRange],
) {
    let start = tokens.partition_point(|token| token.start() < range.start());
    // The lexer puts the dedents that close a block at the start of the next statement. Dedents
    // before the first token of the range, or right after a hole, close code that is not part of
    // this range (the previous block, a method body): skip them, or a block's checksum would
    // depend on how deeply the code before it ended.
    let mut foreign_dedents = true;
    for token in &tokens[start..] {
        if token.start() >= range.end() {
            break;
        }
        if holes.iter().any(|hole| hole.contains_range(token.range())) {
            foreign_dedents = true;
            continue;
        }
        match token.kind() {
            TokenKind::Comment | TokenKind::NonLogicalNewline | TokenKind::EndOfFile => {}
            // The newline ending a hole's last statement belongs to the hole too.
            TokenKind::Dedent | TokenKind::Newline if foreign_dedents => {}
            kind => {
                foreign_dedents = false;
                match kind {
                    TokenKind::Newline => hasher.write(b"\n\0"),
                    TokenKind::Indent => hasher.write(b">\0"),
                    TokenKind::Dedent => hasher.write(b"<\0"),
                    _ => {
                        let text = &source[token.range()];
                        if text.contains('\r') {
                            // Python reads source with universal newlines: a CRLF checkout of a
                            // multi-line string has the same value.
                            hasher.write(text.replace("\r\n", "\n").replace('\r', "\n").as_bytes());
                        } else {
                            hasher.write(text.as_bytes());
                        }
                        hasher.write(b"\0");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(hash_bytes(b"") as u64, 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash_bytes(b"a") as u64, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash_bytes(b"foobar") as u64, 0x85944171f73967e8);
    }
}
