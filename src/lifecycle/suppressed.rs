//! The suppressed set (SPEC §12): the SHA-256 of every erased key, kept in
//! `{url}/_lifecycle/suppressed/{id}.txt` (one lowercase hex hash per line), read by `run` and
//! `finalize` at their start so an erased person never comes back.
//!
//! Owns the files' format, loading them into a [`SuppressedSet`] and writing one. It must not
//! know about HTTP or Parquet: callers ask whether a key is in the set.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock};

use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};

use super::keys::KeyHash;
use crate::sink::layout::Layout;
use crate::sink::{self, Cause, SinkError};

/// Why the suppressed set could not be loaded; a run or finalize does not start without it.
#[derive(Debug, thiserror::Error)]
pub enum SuppressedError {
    /// Listing or reading a list failed.
    #[error("cannot read the suppressed keys")]
    Store(#[source] SinkError),
    /// A line that is not a SHA-256 in hex: refusing to guess which rows to keep out.
    #[error("suppressed list {path}, line {line}: not a SHA-256 in hex; fix or remove the line")]
    BadLine {
        /// The list.
        path: String,
        /// 1-based.
        line: usize,
    },
}

/// Hashes a [`KeyHash`] by its first 8 bytes: a SHA-256 is uniform already, so hashing it again
/// (SipHash, per row of every page) only costs time.
#[derive(Default)]
struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut first = [0u8; 8];
        let n = bytes.len().min(8);
        first[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(first);
    }
}

type Hashes = HashSet<KeyHash, BuildHasherDefault<PrefixHasher>>;

/// The hashes of every erased key; empty (and free to ask) when nothing was ever erased.
///
/// Clones share one set. A set made by [`SuppressedSet::to_be_loaded`] is empty until
/// [`SuppressedSet::fill`]: a `run` builds its context before it may read the lists (after its
/// wait for the lifecycle lease, see `lease::admit`) and fills it then, before any unit starts.
#[derive(Debug, Clone, Default)]
pub struct SuppressedSet {
    hashes: Arc<OnceLock<Hashes>>,
}

impl SuppressedSet {
    /// A set of these hashes.
    pub fn from_hashes(hashes: impl IntoIterator<Item = KeyHash>) -> SuppressedSet {
        SuppressedSet {
            hashes: Arc::new(OnceLock::from(hashes.into_iter().collect::<Hashes>())),
        }
    }

    /// A set read later, with [`SuppressedSet::fill`]; empty until then.
    pub fn to_be_loaded() -> SuppressedSet {
        SuppressedSet::default()
    }

    /// Gives a set made by [`SuppressedSet::to_be_loaded`] (and every clone of it) the hashes
    /// of `loaded`. False when it had hashes already (then it keeps them).
    pub fn fill(&self, loaded: &SuppressedSet) -> bool {
        let hashes = loaded.hashes.get().cloned().unwrap_or_default();
        self.hashes.set(hashes).is_ok()
    }

    fn set(&self) -> Option<&Hashes> {
        self.hashes.get()
    }

    /// Whether nothing is suppressed: callers skip hashing altogether.
    pub fn is_empty(&self) -> bool {
        self.set().is_none_or(HashSet::is_empty)
    }

    /// How many hashes the set holds.
    pub fn len(&self) -> usize {
        self.set().map_or(0, HashSet::len)
    }

    /// Whether `key` hashes to a listed value.
    pub fn contains_key(&self, key: &str) -> bool {
        !self.is_empty() && self.contains(&KeyHash::of(key))
    }

    /// Whether this hash is listed.
    pub fn contains(&self, hash: &KeyHash) -> bool {
        self.set().is_some_and(|s| s.contains(hash))
    }
}

/// Reads every `_lifecycle/suppressed/*.txt` of the destination.
pub async fn load(
    store: &dyn ObjectStore,
    layout: &Layout,
) -> Result<SuppressedSet, SuppressedError> {
    let dir = layout.suppressed_dir();
    let store_error = |op, path: String| {
        move |source: object_store::Error| {
            SuppressedError::Store(SinkError::Store {
                op,
                path,
                source: Cause(source),
            })
        }
    };
    let listed: Vec<_> = store
        .list(Some(&dir))
        .try_collect()
        .await
        .map_err(store_error("list", dir.to_string()))?;
    let mut hashes = HashSet::new();
    for meta in listed {
        if !meta.location.as_ref().ends_with(".txt") {
            continue;
        }
        let path = meta.location.to_string();
        let bytes = async { store.get(&meta.location).await?.bytes().await }
            .await
            .map_err(store_error("get", path.clone()))?;
        parse_into(&bytes, &path, &mut hashes)?;
    }
    Ok(SuppressedSet::from_hashes(hashes))
}

fn parse_into(
    bytes: &[u8],
    path: &str,
    hashes: &mut HashSet<KeyHash>,
) -> Result<(), SuppressedError> {
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let text = std::str::from_utf8(line).unwrap_or("\u{0}").trim();
        if text.is_empty() {
            continue;
        }
        let hash = KeyHash::from_hex(text).ok_or_else(|| SuppressedError::BadLine {
            path: path.to_owned(),
            line: i + 1,
        })?;
        hashes.insert(hash);
    }
    Ok(())
}

/// The text of a list: one lowercase hex hash per line.
pub fn render(hashes: &[KeyHash]) -> Vec<u8> {
    let mut out = String::with_capacity(hashes.len() * 65);
    for h in hashes {
        out.push_str(&h.to_string());
        out.push('\n');
    }
    out.into_bytes()
}

/// Writes `_lifecycle/suppressed/{id}.txt` in one PUT, and on a local disk makes it durable
/// before any data file is touched.
pub async fn write(
    dest: &crate::sink::store::Destination,
    layout: &Layout,
    id: &str,
    hashes: &[KeyHash],
) -> Result<(), SinkError> {
    let path = layout.suppressed_list(id);
    sink::put_object(dest.store.as_ref(), &path, render(hashes)).await?;
    crate::sink::staging::make_durable(dest, std::slice::from_ref(&path)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lists written and read back; a non-hash line is refused with its line number.
    #[tokio::test]
    async fn lists_round_trip() {
        let store = object_store::memory::InMemory::new();
        let layout = Layout::new(&object_store::path::Path::from("out"));
        let a = KeyHash::of("a");
        let b = KeyHash::of("b");
        let empty = load(&store, &layout).await.unwrap();
        assert!(empty.is_empty() && !empty.contains_key("a"));
        store
            .put(&layout.suppressed_list("e1"), render(&[a]).into())
            .await
            .unwrap();
        store
            .put(&layout.suppressed_list("e2"), render(&[a, b]).into())
            .await
            .unwrap();
        let set = load(&store, &layout).await.unwrap();
        assert_eq!(set.len(), 2);
        assert!(set.contains_key("a") && set.contains_key("b") && !set.contains_key("c"));
        store
            .put(&layout.suppressed_list("e3"), b"abc\n".to_vec().into())
            .await
            .unwrap();
        let e = load(&store, &layout).await.unwrap_err().to_string();
        assert_eq!(
            e,
            "suppressed list out/_lifecycle/suppressed/e3.txt, line 1: not a SHA-256 in hex; fix or remove the line"
        );
    }
}
