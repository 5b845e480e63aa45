//! Pages of a list: which items a request gets, and the page body.
//!
//! Owns page planning (offset, count, the next position, short Instagram pages), rendering a
//! page with the hand-written JSON writer, and the malformed variants of a page. It must not
//! know about HTTP, rate limits or the cache.

use serde_json::Value;

use super::churn::Members;
use super::cursor::Position;
use super::data::{Dataset, ListKey, Provider};
use super::fault::Malformed;
use super::json::{ObjectWriter, write_str};

/// What one page serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PagePlan {
    /// Index of the first item.
    pub(crate) offset: u64,
    /// Number of items.
    pub(crate) count: u64,
    /// Where the next page starts, or `None` when this is the last page.
    pub(crate) next: Option<Position>,
}

/// Plans the page at `pos` of a list of `len` items with `limit`. With `short_pages`, about one
/// page in five serves a few items less than `limit`, as Instagram does; the choice is a pure
/// function of the list, the position and the limit, so reruns see the same pages.
pub(crate) fn plan(
    list: &ListKey,
    len: u64,
    pos: Position,
    limit: u32,
    short_pages: bool,
) -> PagePlan {
    let limit = u64::from(limit);
    let remaining = len.saturating_sub(pos.offset);
    let mut count = remaining.min(limit);
    if short_pages && limit > 1 {
        let h = list.page_hash(&[pos.offset, pos.page_no, limit]);
        if h.is_multiple_of(5) {
            let max_shrink = (limit / 4).clamp(1, limit - 1);
            let shrink = 1 + (h >> 8) % max_shrink;
            count = count.min(limit - shrink);
        }
    }
    let end = pos.offset + count;
    PagePlan {
        offset: pos.offset,
        count,
        next: (end < len).then_some(Position {
            offset: end,
            page_no: pos.page_no + 1,
        }),
    }
}

/// Renders into `out` (cleared first) a page of the `count` members from position `offset`.
pub(crate) fn render(
    out: &mut Vec<u8>,
    list: &ListKey,
    dataset: Dataset,
    members: &Members,
    offset: u64,
    count: u64,
    cursor: Option<&str>,
) {
    out.clear();
    out.extend_from_slice(b"{\"object\":\"");
    out.extend_from_slice(dataset.list_object().as_bytes());
    out.extend_from_slice(b"\",\"items\":[");
    let indices = (offset..offset.saturating_add(count)).filter_map(|p| members.index(p));
    for (i, index) in indices.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut item = ObjectWriter::open(out);
        list.item(index, &mut item);
        item.close();
    }
    out.extend_from_slice(b"],\"cursor\":");
    match cursor {
        Some(c) => write_str(out, c),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

/// A page body that breaks the contract in the way `kind` says, made from a good `body`.
pub(crate) fn malform(
    body: &[u8],
    kind: Malformed,
    provider: Provider,
    dataset: Dataset,
) -> Vec<u8> {
    if kind == Malformed::InvalidJson {
        return body[..body.len() / 2].to_vec();
    }
    let Ok(mut page) = serde_json::from_slice::<Value>(body) else {
        return body[..body.len() / 2].to_vec();
    };
    // The fields chosen are required in the docs, so each change breaks the contract.
    let (missing, nulled, wrong): (&str, &str, (&str, Value)) = match (dataset, provider) {
        (Dataset::Followers, Provider::Linkedin) => ("urn", "name", ("name", Value::from(123))),
        (Dataset::Followers, Provider::Instagram) => {
            ("username", "name", ("is_private", Value::from("yes")))
        }
        (Dataset::Following, _) => (
            "member_id",
            "first_name",
            ("created_at", Value::from("2024-05-16")),
        ),
    };
    let item0 = page
        .get_mut("items")
        .and_then(Value::as_array_mut)
        .and_then(|items| items.first_mut())
        .and_then(Value::as_object_mut);
    match (kind, item0) {
        (Malformed::WrongObject, _) => page["object"] = Value::from("UserList"),
        (Malformed::MissingField, Some(item)) => {
            item.remove(missing);
        }
        (Malformed::NullRequired, Some(item)) => {
            item.insert(nulled.to_owned(), Value::Null);
        }
        (Malformed::WrongType, Some(item)) => {
            item.insert(wrong.0.to_owned(), wrong.1);
        }
        // An empty page has no item to spoil: spoil the page itself.
        (Malformed::MissingField, None) => {
            if let Some(o) = page.as_object_mut() {
                o.remove("cursor");
            }
        }
        (Malformed::NullRequired, None) => page["items"] = Value::Null,
        (Malformed::WrongType, None) => page["items"] = Value::from("[]"),
        (Malformed::InvalidJson, _) => {}
    }
    serde_json::to_vec(&page).unwrap_or_else(|_| body[..body.len() / 2].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(len: u64, limit: u32, short: bool) -> (u64, u64, u64) {
        let list = ListKey::new(42, Provider::Instagram, Dataset::Followers, "acc");
        let mut pos = Position {
            offset: 0,
            page_no: 0,
        };
        let (mut pages, mut items, mut short_pages) = (0, 0, 0);
        loop {
            let p = plan(&list, len, pos, limit, short);
            assert_eq!(p.offset, items);
            pages += 1;
            items += p.count;
            match p.next {
                Some(next) => {
                    assert!(p.count >= 1);
                    short_pages += u64::from(p.count < u64::from(limit));
                    pos = next;
                }
                None => return (pages, items, short_pages),
            }
        }
    }

    #[test]
    fn exact_counts() {
        assert_eq!(walk(2501, 100, false), (26, 2501, 0));
        assert_eq!(walk(2501, 200, false), (13, 2501, 0));
        assert_eq!(walk(0, 100, false), (1, 0, 0));
        assert_eq!(walk(100, 100, false), (1, 100, 0));
        assert_eq!(walk(101, 100, false), (2, 101, 0));
        let (pages, items, short) = walk(20_000, 200, true);
        assert_eq!(items, 20_000);
        assert!(short > 5 && pages > 100, "{pages} pages, {short} short");
        assert_eq!(walk(10, 1, true), (10, 10, 0));
    }

    fn expected(index: u64) -> Value {
        crate::data::expected_item(42, Provider::Linkedin, Dataset::Followers, "acc", index)
    }

    #[test]
    fn render_is_valid_json() {
        let list = ListKey::new(42, Provider::Linkedin, Dataset::Followers, "acc");
        let mut out = Vec::new();
        let all = Members::Identity(100);
        render(
            &mut out,
            &list,
            Dataset::Followers,
            &all,
            10,
            3,
            Some("abc"),
        );
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["object"], "UserFollowersList");
        assert_eq!(v["items"].as_array().unwrap().len(), 3);
        assert_eq!(v["items"][0]["id"], expected(10)["id"]);
        assert_eq!(v["cursor"], "abc");
        // Positions map to members: position 1 of [7, 900, 3] is item 900.
        let some = Members::Compact(vec![7, 900, 3]);
        render(&mut out, &list, Dataset::Followers, &some, 1, 5, None);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["items"][0], expected(900));
        assert_eq!(v["items"][1], expected(3));
        assert_eq!(v["items"].as_array().unwrap().len(), 2);
        render(&mut out, &list, Dataset::Followers, &all, 0, 0, None);
        assert_eq!(
            out,
            br#"{"object":"UserFollowersList","items":[],"cursor":null}"#
        );
    }
}
