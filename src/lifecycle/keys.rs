//! Erasure keys (SPEC §12): reading them from `--key` or `--keys-file`, refusing the bad ones,
//! and their SHA-256, the only form in which a key is ever written or shown.
//!
//! Owns the keys file syntax and the hash. It must not know where hashes are stored. A key is
//! never part of an error message: errors name the line or the flag's position instead.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The longest key accepted, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 256;

/// The SHA-256 of a key's UTF-8 bytes; shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    /// The hash of `key`.
    pub fn of(key: &str) -> KeyHash {
        KeyHash(Sha256::digest(key.as_bytes()).into())
    }

    /// Parses 64 hex digits (either case); `None` for anything else.
    pub fn from_hex(text: &str) -> Option<KeyHash> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            *o = u8::try_from(hi << 4 | lo).ok()?;
        }
        Some(KeyHash(out))
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why the keys given to `erase` were refused (exit 2). No variant holds a key.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// Neither `--key` nor `--keys-file`, or both.
    #[error("give the keys with --key KEY (repeatable) or --keys-file FILE, not both")]
    Source,
    /// An empty `--key`.
    #[error("--key number {index} is empty; give a follower's id or a followed member's member_id")]
    EmptyFlag {
        /// 1-based position among the `--key` flags.
        index: usize,
    },
    /// A `--key` over [`MAX_KEY_BYTES`].
    #[error("--key number {index} is {bytes} bytes long; a key is at most 256 bytes")]
    LongFlag {
        /// 1-based position among the `--key` flags.
        index: usize,
        /// Its length.
        bytes: usize,
    },
    /// The keys file cannot be read.
    #[error("keys file {path} cannot be read")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The keys file is not UTF-8 text.
    #[error("keys file {path}, line {line}: not UTF-8 text; write one key per line")]
    NotText {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
    },
    /// A line over [`MAX_KEY_BYTES`].
    #[error(
        "keys file {path}, line {line}: the key is {bytes} bytes long; a key is at most 256 bytes"
    )]
    LongLine {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// Its length.
        bytes: usize,
    },
    /// Only blank lines and comments.
    #[error(
        "keys file {path} holds no key; write one key per line (lines starting with # are comments)"
    )]
    NoKey {
        /// The file.
        path: PathBuf,
    },
}

/// The keys given, de-duplicated: from `--key` flags or a keys file (exactly one of them).
/// They stay in memory; only [`KeyHash`]es of them are ever written or shown.
pub fn read_keys(flags: &[String], file: Option<&Path>) -> Result<Vec<String>, KeysError> {
    let mut keys = match (flags.is_empty(), file) {
        (false, None) => from_flags(flags)?,
        (true, Some(path)) => from_file(path)?,
        _ => return Err(KeysError::Source),
    };
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

/// The hashes of `keys`, sorted and unique.
pub fn hashes(keys: &[String]) -> Vec<KeyHash> {
    let mut h: Vec<KeyHash> = keys.iter().map(|k| KeyHash::of(k)).collect();
    h.sort_unstable();
    h.dedup();
    h
}

fn from_flags(flags: &[String]) -> Result<Vec<String>, KeysError> {
    flags
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let index = i + 1;
            match key.len() {
                0 => Err(KeysError::EmptyFlag { index }),
                n if n > MAX_KEY_BYTES => Err(KeysError::LongFlag { index, bytes: n }),
                _ => Ok(key.clone()),
            }
        })
        .collect()
}

/// One key per line, trimmed of surrounding whitespace (CR included); blank lines and lines
/// starting with `#` are skipped. A key is taken as it is, with no escapes.
fn from_file(path: &Path) -> Result<Vec<String>, KeysError> {
    let bytes = std::fs::read(path).map_err(|source| KeysError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut keys = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let text = std::str::from_utf8(line).map_err(|_| KeysError::NotText {
            path: path.to_owned(),
            line: line_no,
        })?;
        let key = text.trim();
        if key.is_empty() || key.starts_with('#') {
            continue;
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(KeysError::LongLine {
                path: path.to_owned(),
                line: line_no,
                bytes: key.len(),
            });
        }
        keys.push(key.to_owned());
    }
    if keys.is_empty() {
        return Err(KeysError::NoKey {
            path: path.to_owned(),
        });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash is SHA-256 of the UTF-8 bytes, lowercase hex, and reads back.
    #[test]
    fn hash_is_lowercase_sha256_hex() {
        let h = KeyHash::of("abc");
        assert_eq!(
            h.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(KeyHash::from_hex(&h.to_string()), Some(h));
        assert_eq!(KeyHash::from_hex(&h.to_string().to_uppercase()), Some(h));
        assert_eq!(KeyHash::from_hex("xyz"), None);
        assert_eq!(KeyHash::from_hex(&"g".repeat(64)), None);
    }

    /// A keys file: trimmed lines (CR too), blanks and comments skipped, duplicates once; the
    /// refusals name the line, never the key.
    #[test]
    fn keys_file_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.txt");
        std::fs::write(
            &path,
            "# people to erase\r\n  ACoAAx1 \r\n\n\tACoAAx1\nzé\n",
        )
        .unwrap();
        let got = read_keys(&[], Some(&path)).unwrap();
        assert_eq!(got, ["ACoAAx1", "zé"]);
        assert_eq!(hashes(&got).len(), 2);

        let long = "k".repeat(257);
        std::fs::write(&path, format!("ok\n{long}\n")).unwrap();
        let e = read_keys(&[], Some(&path)).unwrap_err().to_string();
        assert!(
            e.ends_with("line 2: the key is 257 bytes long; a key is at most 256 bytes"),
            "{e}"
        );
        assert!(!e.contains(&long));
        std::fs::write(&path, "# nothing\n\n   \n").unwrap();
        let e = read_keys(&[], Some(&path)).unwrap_err().to_string();
        assert!(e.contains("holds no key"), "{e}");
        std::fs::write(&path, b"ok\n\xff\xfe\n").unwrap();
        assert!(matches!(
            read_keys(&[], Some(&path)),
            Err(KeysError::NotText { line: 2, .. })
        ));
        let missing = dir.path().join("missing.txt");
        assert!(matches!(
            read_keys(&[], Some(&missing)),
            Err(KeysError::Read { .. })
        ));
    }

    /// Flags: exactly one source; empty and long keys refused by position.
    #[test]
    fn flag_rules() {
        let k = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(read_keys(&k(&["a", "a"]), None).unwrap().len(), 1);
        assert!(matches!(read_keys(&[], None), Err(KeysError::Source)));
        assert!(matches!(
            read_keys(&k(&["a"]), Some(Path::new("x"))),
            Err(KeysError::Source)
        ));
        assert_eq!(
            read_keys(&k(&["a", ""]), None).unwrap_err().to_string(),
            "--key number 2 is empty; give a follower's id or a followed member's member_id"
        );
        let long = "é".repeat(129);
        let e = read_keys(&k(&[&long]), None).unwrap_err().to_string();
        assert_eq!(
            e,
            "--key number 1 is 258 bytes long; a key is at most 256 bytes"
        );
    }
}
