//! Content hashes: sha256 over exactly the bytes that determine a result.

use sha2::{Digest, Sha256};

use crate::chunk::{ChunkSettings, CHUNKER_VERSION};

/// Hash of one chunk's text; equal hashes mean an embedding can be reused.
pub fn chunk_hash(content: &str) -> [u8; 32] {
    Sha256::digest(content.as_bytes()).into()
}

/// Hash of everything that determines a document's chunks: the chunker
/// version, its settings and the content. Title and metadata are not part of
/// it: changing them updates the document row but leaves chunks untouched.
pub fn source_hash(content: &str, settings: &ChunkSettings) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"rag_search/chunker\0");
    h.update(CHUNKER_VERSION.to_le_bytes());
    h.update((settings.max_chars as u64).to_le_bytes());
    h.update((settings.overlap_chars as u64).to_le_bytes());
    h.update(content.as_bytes());
    h.finalize().into()
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_hash_is_sha256() {
        assert_eq!(
            hex(&chunk_hash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn source_hash_depends_on_settings_and_content() {
        let a = source_hash("x", &ChunkSettings::default());
        let b = source_hash("x", &ChunkSettings::new(500, 10).unwrap());
        let c = source_hash("y", &ChunkSettings::default());
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, source_hash("x", &ChunkSettings::default()));
    }
}
