//! Opaque pagination cursors.
//!
//! Owns the cursor's wire form: base64url (no padding) of a version byte, the dataset, the
//! item offset and the page number as varints, and a 64-bit keyed MAC over those and the
//! account id. Version 2 adds what a cursor carries beyond its position ([`Issue`]): the day of
//! the list it pages through, the expiry generation it was issued in, and when (with a cursor
//! TTL). A cursor of day 0, generation 0 and no TTL is written as version 1, byte for byte what
//! the simulator served before days existed. The key derives from the seed alone, so cursors
//! survive a restart with the same seed (determinism across runs) while a tampered cursor, or
//! one minted for another account or dataset, is refused. It must not know what a page
//! contains or when a cursor is too old (`expiry` decides that).

use super::data::Dataset;
use super::rng::{fnv1a, mix};

const VERSION: u8 = 1;
const VERSION_ISSUED: u8 = 2;
/// Fixed salts: any change invalidates every cursor handed out so far.
const SALT: [u64; 2] = [0x7c3a_91d2_5b0e_f468, 0x1f82_c6a4_93d7_05eb];

/// Where a cursor resumes: the first item of the next page and that page's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    /// Index of the first item the page serves.
    pub(crate) offset: u64,
    /// 0-based page number, counting every page served (empty pages too).
    pub(crate) page_no: u64,
}

/// What a cursor says about its own issue, beyond the position.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct Issue {
    /// The day whose list the cursor pages through: a snapshot, whatever the current day.
    pub(crate) day: u32,
    /// The expiry generation current when it was issued.
    pub(crate) generation: u64,
    /// When it was issued, in Unix milliseconds rounded down (only with a cursor TTL).
    pub(crate) stamp: Option<u64>,
}

/// The secret the cursors of one simulator are signed with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CursorKey([u64; 2]);

impl CursorKey {
    pub(crate) fn from_seed(seed: u64) -> Self {
        Self([mix(seed ^ SALT[0]), mix(seed.rotate_left(32) ^ SALT[1])])
    }

    fn mac(&self, account_id: &str, dataset: Dataset, pos: Position, issue: Issue) -> u64 {
        let head = [
            fnv1a(account_id.as_bytes()),
            account_id.len() as u64,
            dataset.tag(),
            pos.offset,
            pos.page_no,
        ];
        // Version 1 signs the position only; version 2 also signs the issue.
        let issued = [
            u64::from(issue.day),
            issue.generation,
            issue.stamp.map_or(0, |s| s.wrapping_add(1)),
            u64::from(VERSION_ISSUED),
        ];
        let words = if issue == Issue::default() {
            &issued[..0]
        } else {
            &issued[..]
        };
        let mut h = self.0[0];
        for &w in head.iter().chain(words) {
            h = mix(h ^ w).wrapping_add(self.0[1]).rotate_left(23);
        }
        mix(h ^ self.0[1])
    }

    /// The cursor string for `pos` in `(account_id, dataset)`, issued as `issue` says.
    pub(crate) fn encode(
        &self,
        account_id: &str,
        dataset: Dataset,
        pos: Position,
        issue: Issue,
    ) -> String {
        let mut raw = Vec::with_capacity(48);
        let plain = issue == Issue::default();
        raw.push(if plain { VERSION } else { VERSION_ISSUED });
        raw.push(dataset.tag() as u8);
        put_varint(&mut raw, pos.offset);
        put_varint(&mut raw, pos.page_no);
        if !plain {
            put_varint(&mut raw, u64::from(issue.day));
            put_varint(&mut raw, issue.generation);
            put_varint(&mut raw, issue.stamp.map_or(0, |s| s.wrapping_add(1)));
        }
        raw.extend_from_slice(&self.mac(account_id, dataset, pos, issue).to_le_bytes());
        base64url_encode(&raw)
    }

    /// The position and issue a cursor stands for, or `None` when it is malformed, tampered
    /// with, or was minted for another account or dataset.
    pub(crate) fn decode(
        &self,
        account_id: &str,
        dataset: Dataset,
        cursor: &str,
    ) -> Option<(Position, Issue)> {
        let raw = base64url_decode(cursor)?;
        let (&version, rest) = raw.split_first()?;
        let (&tag, rest) = rest.split_first()?;
        if !matches!(version, VERSION | VERSION_ISSUED) || u64::from(tag) != dataset.tag() {
            return None;
        }
        let (offset, rest) = get_varint(rest)?;
        let (page_no, mut rest) = get_varint(rest)?;
        let mut issue = Issue::default();
        if version == VERSION_ISSUED {
            let (day, r) = get_varint(rest)?;
            let (generation, r) = get_varint(r)?;
            let (stamp, r) = get_varint(r)?;
            issue = Issue {
                day: u32::try_from(day).ok()?,
                generation,
                stamp: stamp.checked_sub(1),
            };
            // A version 2 cursor always says something version 1 cannot.
            if issue == Issue::default() {
                return None;
            }
            rest = r;
        }
        let mac = u64::from_le_bytes(rest.try_into().ok()?);
        let pos = Position { offset, page_no };
        (mac == self.mac(account_id, dataset, pos, issue)).then_some((pos, issue))
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A varint in its canonical form only, so that no two byte strings stand for the same value
/// (otherwise a tampered cursor could keep its MAC).
fn get_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        let part = u64::from(b & 0x7f);
        if i == 9 && part > 1 {
            return None;
        }
        v |= part << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return None;
            }
            return Some((v, &bytes[i + 1..]));
        }
    }
    None
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(B64[(n >> (18 - 6 * i) & 0x3f) as usize]));
        }
    }
    out
}

fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 4 == 1 || s.len() > 96 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = B64.iter().position(|&b| b == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
        // Canonical form only: the bits below the last full byte must be zero.
        let used_bits = 8 * (chunk.len() - 1);
        if n & ((1 << (24 - used_bits)) - 1) != 0 {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_canonical() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(get_varint(&out), Some((v, &[][..])));
        }
        assert_eq!(get_varint(&[0x80, 0x00]), None);
        let mut max = vec![0xff; 9];
        max.push(0x03);
        assert_eq!(get_varint(&max), None);
    }

    #[test]
    fn base64_round_trip() {
        for len in 0..20 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 250) as u8).collect();
            let s = base64url_encode(&bytes);
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            assert_eq!(base64url_decode(&s).unwrap(), bytes);
        }
    }

    #[test]
    fn round_trip_and_tamper() {
        let key = CursorKey::from_seed(42);
        let pos = Position {
            offset: 2500,
            page_no: 25,
        };
        let issues = [
            Issue::default(),
            Issue {
                day: 3,
                ..Issue::default()
            },
            Issue {
                day: 0,
                generation: 2,
                stamp: Some(1_764_000_000_000),
            },
            Issue {
                day: crate::churn::MAX_DAY,
                generation: u64::MAX,
                stamp: Some(u64::MAX - 1),
            },
        ];
        for issue in issues {
            let c = key.encode("acc_a", Dataset::Followers, pos, issue);
            assert_eq!(
                key.decode("acc_a", Dataset::Followers, &c),
                Some((pos, issue))
            );
            assert_eq!(key.decode("acc_b", Dataset::Followers, &c), None);
            assert_eq!(key.decode("acc_a", Dataset::Following, &c), None);
            assert_eq!(
                CursorKey::from_seed(43).decode("acc_a", Dataset::Followers, &c),
                None
            );
            for i in 0..c.len() {
                let mut t = c.clone().into_bytes();
                t[i] = if t[i] == b'A' { b'B' } else { b'A' };
                let t = String::from_utf8(t).unwrap();
                assert_eq!(key.decode("acc_a", Dataset::Followers, &t), None, "{t}");
            }
        }
        assert_eq!(key.decode("acc_a", Dataset::Followers, "!!!!"), None);
        assert_eq!(key.decode("acc_a", Dataset::Followers, "x"), None);
        assert_eq!(key.decode("acc_a", Dataset::Followers, ""), None);
    }

    /// Day 0 without expiry keeps the version 1 bytes the simulator always served.
    #[test]
    fn version_one_is_unchanged() {
        let key = CursorKey::from_seed(42);
        let pos = Position {
            offset: 2500,
            page_no: 25,
        };
        let c = key.encode("acc_a", Dataset::Followers, pos, Issue::default());
        assert_eq!(c, "AQHEExm9AAOsQINtyA");
    }

    /// The day is signed: a cursor cannot be moved to another day's list.
    #[test]
    fn the_day_is_pinned() {
        let key = CursorKey::from_seed(1);
        let pos = Position {
            offset: 100,
            page_no: 1,
        };
        let day4 = Issue {
            day: 4,
            ..Issue::default()
        };
        let c = key.encode("acc", Dataset::Following, pos, day4);
        let mut raw = base64url_decode(&c).unwrap();
        // version, tag, offset (1 byte), page_no (1 byte), then the day.
        assert_eq!(raw[4], 4);
        raw[4] = 5;
        let forged = base64url_encode(&raw);
        assert_eq!(key.decode("acc", Dataset::Following, &forged), None);
        assert_eq!(
            key.decode("acc", Dataset::Following, &c)
                .map(|(_, i)| i.day),
            Some(4)
        );
    }
}
