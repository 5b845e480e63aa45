//! Query strings: the API's parameters and the control endpoints' ones, percent-decoded.
//!
//! Owns parsing `a=1&b=2` leniently (first occurrence wins, unknown names ignored, malformed
//! escapes kept as they are). It must not validate values: callers do.

use std::borrow::Cow;

/// The query parameters the API knows; others are ignored.
#[derive(Default)]
pub(crate) struct Query<'a> {
    pub(crate) account_id: Option<Cow<'a, str>>,
    pub(crate) user_id: Option<Cow<'a, str>>,
    pub(crate) limit: Option<Cow<'a, str>>,
    pub(crate) cursor: Option<Cow<'a, str>>,
}

/// The API's parameters in `query`.
pub(crate) fn parse_query(query: &str) -> Query<'_> {
    let mut q = Query::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match name {
            "account_id" => &mut q.account_id,
            "user_id" => &mut q.user_id,
            "limit" => &mut q.limit,
            "cursor" => &mut q.cursor,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(percent_decode(value));
        }
    }
    q
}

fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The first value of parameter `name` in `query`, percent-decoded.
pub(crate) fn param<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    query
        .split('&')
        .filter_map(|pair| {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            (n == name).then(|| percent_decode(v))
        })
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let q = parse_query("account_id=acc%5Fa&limit=10&cursor=ab-_&x=1&limit=20&user_id=a+b");
        assert_eq!(q.account_id.as_deref(), Some("acc_a"));
        assert_eq!(q.limit.as_deref(), Some("10"));
        assert_eq!(q.cursor.as_deref(), Some("ab-_"));
        assert_eq!(q.user_id.as_deref(), Some("a b"));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(
            param("a=1&dataset=x%79&dataset=z", "dataset").as_deref(),
            Some("xy")
        );
        assert_eq!(param("day", "day").as_deref(), Some(""));
        assert_eq!(param("days=1", "day"), None);
    }
}
