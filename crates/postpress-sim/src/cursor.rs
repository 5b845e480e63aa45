//! Opaque pagination cursors.
//!
//! Owns the cursor's wire form: base64url (no padding) of a version byte, the dataset, the
//! item offset and the page number as varints, and a 64-bit keyed MAC over those and the
//! account id. The key derives from the seed alone, so cursors survive a restart with the same
//! seed (determinism across runs) while a tampered cursor, or one minted for another account or
//! dataset, is refused. It must not know what a page contains.

use super::data::{Dataset, fnv1a, mix};

const VERSION: u8 = 1;
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

/// The secret the cursors of one simulator are signed with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CursorKey([u64; 2]);

impl CursorKey {
    pub(crate) fn from_seed(seed: u64) -> Self {
        Self([mix(seed ^ SALT[0]), mix(seed.rotate_left(32) ^ SALT[1])])
    }

    fn mac(&self, account_id: &str, dataset: Dataset, pos: Position) -> u64 {
        let words = [
            fnv1a(account_id.as_bytes()),
            account_id.len() as u64,
            dataset.tag(),
            pos.offset,
            pos.page_no,
        ];
        let mut h = self.0[0];
        for w in words {
            h = mix(h ^ w).wrapping_add(self.0[1]).rotate_left(23);
        }
        mix(h ^ self.0[1])
    }

    /// The cursor string for `pos` in `(account_id, dataset)`.
    pub(crate) fn encode(&self, account_id: &str, dataset: Dataset, pos: Position) -> String {
        let mut raw = Vec::with_capacity(32);
        raw.push(VERSION);
        raw.push(dataset.tag() as u8);
        put_varint(&mut raw, pos.offset);
        put_varint(&mut raw, pos.page_no);
        raw.extend_from_slice(&self.mac(account_id, dataset, pos).to_le_bytes());
        base64url_encode(&raw)
    }

    /// The position a cursor stands for, or `None` when it is malformed, tampered with, or
    /// was minted for another account or dataset.
    pub(crate) fn decode(
        &self,
        account_id: &str,
        dataset: Dataset,
        cursor: &str,
    ) -> Option<Position> {
        let raw = base64url_decode(cursor)?;
        let (&version, rest) = raw.split_first()?;
        let (&tag, rest) = rest.split_first()?;
        if version != VERSION || u64::from(tag) != dataset.tag() {
            return None;
        }
        let (offset, rest) = get_varint(rest)?;
        let (page_no, rest) = get_varint(rest)?;
        let mac = u64::from_le_bytes(rest.try_into().ok()?);
        let pos = Position { offset, page_no };
        (mac == self.mac(account_id, dataset, pos)).then_some(pos)
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
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
    if s.len() % 4 == 1 || s.len() > 64 {
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
        let c = key.encode("acc_a", Dataset::Followers, pos);
        assert_eq!(key.decode("acc_a", Dataset::Followers, &c), Some(pos));
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
        assert_eq!(key.decode("acc_a", Dataset::Followers, "!!!!"), None);
        assert_eq!(key.decode("acc_a", Dataset::Followers, "x"), None);
        assert_eq!(key.decode("acc_a", Dataset::Followers, ""), None);
    }
}
