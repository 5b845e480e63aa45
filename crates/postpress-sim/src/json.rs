//! A small hand-written JSON writer for the simulator's hot path.
//!
//! Owns string escaping (RFC 8259 section 7) and the comma bookkeeping of objects written
//! field by field into a caller's `Vec<u8>`. It must not know what the fields mean: the
//! generator in `data` and the page renderer in `page` decide that. serde_json stays the
//! reference for correctness; the tests compare both.

use std::fmt;

/// Appends `s` to `out` as the inside of a JSON string (no surrounding quotes).
///
/// Quotes, backslashes and every control character below U+0020 are escaped; everything else,
/// multi-byte UTF-8 included, is copied as is, which is valid JSON. Clean runs are found eight
/// bytes at a time: this loop is most of the cost of rendering a page.
pub(crate) fn write_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(chunk) = bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if !needs_escape(u64::from_le_bytes(word)) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        if b >= 0x20 && b != b'"' && b != b'\\' {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight bytes of `w` is below 0x20, a quote or a backslash (the classic
/// "has zero byte" / "has byte less than" bit tricks; exact for "any", which is all we ask).
fn needs_escape(w: u64) -> bool {
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    (below_space | has_zero(w ^ (ONES * u64::from(b'"'))) | has_zero(w ^ (ONES * u64::from(b'\\'))))
        != 0
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` to `out` as a quoted JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_escaped(out, s);
    out.push(b'"');
}

/// Appends the decimal form of `v` to `out` without allocating.
pub(crate) fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends the decimal form of `v` to `out`.
pub(crate) fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

/// A `fmt::Write` adapter that escapes whatever is formatted into it, so generated values
/// (`format_args!`) go straight into the output without an intermediate `String`.
pub(crate) struct Escaper<'a>(pub(crate) &'a mut Vec<u8>);

impl fmt::Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_escaped(self.0, s);
        Ok(())
    }
}

/// Writes one JSON object field by field, placing the commas.
pub(crate) struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    /// Opens an object (`{`) in `out`.
    pub(crate) fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    /// Writes `"key":` (with a leading comma when needed) and returns the buffer for the value.
    /// Keys are the simulator's own constants: plain ASCII that needs no escaping.
    pub(crate) fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// Writes a string field.
    pub(crate) fn str(&mut self, key: &str, value: &str) {
        let out = self.key(key);
        write_str(out, value);
    }

    /// Writes a string field formatted from `args`.
    pub(crate) fn fmt(&mut self, key: &str, args: fmt::Arguments<'_>) {
        let out = self.key(key);
        out.push(b'"');
        // Writing into a Vec cannot fail, and the generator's Display impls only fail on
        // non-UTF-8 tokens, which their ASCII alphabets rule out: nothing to report.
        fmt::write(&mut Escaper(out), args).unwrap_or(());
        out.push(b'"');
    }

    /// Writes an integer field.
    pub(crate) fn int(&mut self, key: &str, value: i64) {
        let out = self.key(key);
        write_i64(out, value);
    }

    /// Writes a boolean field.
    pub(crate) fn bool(&mut self, key: &str, value: bool) {
        let out = self.key(key);
        out.extend_from_slice(if value { b"true" } else { b"false" });
    }

    /// Writes a `null` field.
    pub(crate) fn null(&mut self, key: &str) {
        let out = self.key(key);
        out.extend_from_slice(b"null");
    }

    /// Writes a field whose value is already valid JSON text.
    pub(crate) fn raw(&mut self, key: &str, json: &str) {
        let out = self.key(key);
        out.extend_from_slice(json.as_bytes());
    }

    /// Closes the object (`}`).
    pub(crate) fn close(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_serde_json() {
        for s in [
            "",
            "plain",
            "quote \" and backslash \\",
            "new\nline\r\ttab",
            "\u{0}\u{1}\u{8}\u{c}\u{1f}\u{7f}",
            "Zoë 李 محمد 🚀 \u{200f}",
            "C:\\Users\\",
            "0123456789abcdef\"0123456789abcdef\\01234567\n",
            "ééééééé\u{1f}ééééééé\u{7}",
        ] {
            let ours = escaped(s);
            assert_eq!(serde_json::from_str::<String>(&ours).unwrap(), s);
            assert_eq!(ours, serde_json::to_string(s).unwrap());
        }
    }

    #[test]
    fn every_ascii_char_at_every_offset() {
        for c in (0u8..128).map(char::from) {
            for pos in 0..18 {
                let mut s: String = "abcdefghijklmnopqrs".into();
                s.insert(pos, c);
                assert_eq!(
                    escaped(&s),
                    serde_json::to_string(&s).unwrap(),
                    "{c:?} at {pos}"
                );
            }
        }
    }

    #[test]
    fn integers() {
        for v in [0i64, 7, -1, 1_747_400_000_000, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            write_i64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }

    #[test]
    fn object_commas() {
        let mut out = Vec::new();
        let mut o = ObjectWriter::open(&mut out);
        o.str("a", "x");
        o.int("b", 2);
        o.bool("c", true);
        o.null("d");
        o.raw("e", "{\"k\":1}");
        o.fmt("f", format_args!("{}-{}", "y", 3));
        o.close();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a":"x","b":2,"c":true,"d":null,"e":{"k":1},"f":"y-3"})
        );
    }
}
