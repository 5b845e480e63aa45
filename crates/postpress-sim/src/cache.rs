//! A byte-bounded cache of rendered page bodies.
//!
//! Owns memory accounting and eviction (oldest first, per shard) so repeated runs over the same
//! lists are served from memory. It must not know how pages are rendered or what they mean;
//! the key says everything that determines a body.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;

use bytes::Bytes;

use super::cursor::Issue;
use super::data::Dataset;

/// Everything a normal page body depends on (the seed, the account's size and churn are fixed
/// for the process; the day, in `issue`, picks the members).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PageKey {
    pub(crate) account: u32,
    pub(crate) dataset: Dataset,
    pub(crate) offset: u64,
    pub(crate) limit: u32,
    pub(crate) page_no: u64,
    /// The day of the list and how the page's cursor is issued.
    pub(crate) issue: Issue,
}

/// A rendered page and the number of items in it.
#[derive(Debug, Clone)]
pub(crate) struct CachedPage {
    pub(crate) body: Bytes,
    pub(crate) items: u64,
}

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<PageKey, CachedPage>,
    order: VecDeque<PageKey>,
    bytes: usize,
}

const SHARDS: usize = 16;

/// The cache: 16 mutex-guarded shards, each holding at most `capacity / 16` bytes of bodies.
#[derive(Debug)]
pub(crate) struct PageCache {
    shards: Vec<Mutex<Shard>>,
    shard_capacity: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl PageCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            shard_capacity: capacity / SHARDS,
            hasher: Default::default(),
        }
    }

    fn shard(&self, key: &PageKey) -> &Mutex<Shard> {
        &self.shards[(self.hasher.hash_one(key) % SHARDS as u64) as usize]
    }

    pub(crate) fn get(&self, key: &PageKey) -> Option<CachedPage> {
        let shard = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        shard.map.get(key).cloned()
    }

    pub(crate) fn insert(&self, key: PageKey, page: CachedPage) {
        let size = page.body.len();
        if size > self.shard_capacity {
            return;
        }
        let mut shard = self.shard(&key).lock().unwrap_or_else(|p| p.into_inner());
        while shard.bytes + size > self.shard_capacity {
            let Some(old) = shard.order.pop_front() else {
                break;
            };
            if let Some(evicted) = shard.map.remove(&old) {
                shard.bytes -= evicted.body.len();
            }
        }
        if let Some(previous) = shard.map.insert(key, page) {
            shard.bytes -= previous.body.len();
        } else {
            shard.order.push_back(key);
        }
        shard.bytes += size;
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_under_its_capacity() {
        let cache = PageCache::new(16 * 1000);
        for offset in 0..1000 {
            let key = PageKey {
                account: 0,
                dataset: Dataset::Followers,
                offset,
                limit: 100,
                page_no: offset,
                issue: Issue::default(),
            };
            cache.insert(
                key,
                CachedPage {
                    body: Bytes::from(vec![b'x'; 100]),
                    items: 1,
                },
            );
            assert!(cache.get(&key).is_some());
            assert!(cache.bytes() <= 16 * 1000);
        }
        assert!(cache.bytes() > 10 * 1000);
    }
}
