//! The simulator's deterministic fake people: every item of every list.
//!
//! Owns the two provider variants of a follower, the relation item of the following list, and
//! the rule that item `i` of `(account, dataset)` is a pure function of
//! `(seed, provider, account_id, dataset, i)`. It writes items through [`ItemOut`], so the
//! hot path renders straight into a page buffer and [`expected_item`] builds the very same
//! item as a `serde_json::Value` for tests. It must not know about HTTP, cursors or faults.

use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::json::ObjectWriter;

/// A provider variant of the API, as the simulator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// LinkedIn: followers carry `urn`, `headline` and two picture URLs.
    Linkedin,
    /// Instagram: followers carry `username`, `messaging_id` and privacy flags.
    Instagram,
}

impl Provider {
    /// The lowercase name used in account ids and scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Linkedin => "linkedin",
            Provider::Instagram => "instagram",
        }
    }
}

/// One of the two lists the API serves per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dataset {
    /// `GET /users/followers`.
    Followers,
    /// `GET /users/following`.
    Following,
}

impl Dataset {
    /// The lowercase name used in routes, stats and scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Dataset::Followers => "followers",
            Dataset::Following => "following",
        }
    }

    /// The `object` of a page of this list.
    pub fn list_object(self) -> &'static str {
        match self {
            Dataset::Followers => "UserFollowersList",
            Dataset::Following => "UserRelationsList",
        }
    }

    /// The `object` of an item of this list.
    pub fn item_object(self) -> &'static str {
        match self {
            Dataset::Followers => "UserFollower",
            Dataset::Following => "UserRelation",
        }
    }

    pub(crate) fn tag(self) -> u64 {
        match self {
            Dataset::Followers => 1,
            Dataset::Following => 2,
        }
    }
}

/// The largest `limit` the API accepts for this list; the smallest is 1 everywhere.
pub fn max_limit(provider: Provider, dataset: Dataset) -> u32 {
    match (dataset, provider) {
        (Dataset::Followers, Provider::Linkedin) => 100,
        (Dataset::Followers, Provider::Instagram) => 200,
        (Dataset::Following, _) => 1000,
    }
}

/// The item served at position `index` of the list `(account_id, dataset)`, exactly as the
/// simulator writes it: `object` included, and the unknown extra field when the item has one.
pub fn expected_item(
    seed: u64,
    provider: Provider,
    dataset: Dataset,
    account_id: &str,
    index: u64,
) -> Value {
    let list = ListKey::new(seed, provider, dataset, account_id);
    let mut out = ValueOut(Map::new());
    list.item(index, &mut out);
    Value::Object(out.0)
}

/// The per-list part of every item's seed, computed once per page rather than per item.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListKey {
    base: u64,
    owner: u64,
    provider: Provider,
    dataset: Dataset,
}

impl ListKey {
    pub(crate) fn new(seed: u64, provider: Provider, dataset: Dataset, account_id: &str) -> Self {
        let account = fnv1a(account_id.as_bytes());
        let provider_tag = match provider {
            Provider::Linkedin => 0x11,
            Provider::Instagram => 0x22,
        };
        let base = mix(mix(mix(seed ^ 0x5eed) ^ account) ^ (dataset.tag() << 8 | provider_tag));
        Self {
            base,
            owner: mix(account ^ seed),
            provider,
            dataset,
        }
    }

    /// A hash of the list and `words`, for decisions that belong to pages (short pages).
    pub(crate) fn page_hash(&self, words: &[u64]) -> u64 {
        words
            .iter()
            .fold(mix(self.base ^ 0xface), |h, w| mix(h ^ w))
    }

    /// Emits item `index` of this list into `out`.
    pub(crate) fn item(&self, index: u64, out: &mut impl ItemOut) {
        let mut rng = Rng(mix(self.base ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        out.str("object", self.dataset.item_object());
        match (self.dataset, self.provider) {
            (Dataset::Followers, Provider::Linkedin) => linkedin_follower(&mut rng, index, out),
            (Dataset::Followers, Provider::Instagram) => instagram_follower(&mut rng, index, out),
            (Dataset::Following, provider) => relation(&mut rng, index, self.owner, provider, out),
        }
        // About 2% of items carry a field the docs do not list: clients must ignore it.
        if rng.chance(20) {
            match rng.below(4) {
                0 => out.str(
                    "pronouns",
                    rng.pick(&["they/them", "she/her", "he/him", "elle"]),
                ),
                1 => out.raw("badge", r#"{"k":1}"#, json!({"k": 1})),
                2 => out.bool("is_creator", rng.chance(500)),
                _ => out.raw(
                    "tags",
                    r#"["open_to_work","🌱"]"#,
                    json!(["open_to_work", "🌱"]),
                ),
            }
        }
    }
}

/// Where a generated item goes: the page's JSON writer, or a `serde_json::Value` for tests.
pub(crate) trait ItemOut {
    /// A string field.
    fn str(&mut self, key: &'static str, value: &str);
    /// A string field formatted from `args`.
    fn fmt(&mut self, key: &'static str, args: fmt::Arguments<'_>);
    /// An integer field.
    fn int(&mut self, key: &'static str, value: i64);
    /// A boolean field.
    fn bool(&mut self, key: &'static str, value: bool);
    /// A `null` field.
    fn null(&mut self, key: &'static str);
    /// A field given both as JSON text and as the equivalent value.
    fn raw(&mut self, key: &'static str, json: &'static str, value: Value);
}

impl ItemOut for ObjectWriter<'_> {
    fn str(&mut self, key: &'static str, value: &str) {
        ObjectWriter::str(self, key, value);
    }
    fn fmt(&mut self, key: &'static str, args: fmt::Arguments<'_>) {
        ObjectWriter::fmt(self, key, args);
    }
    fn int(&mut self, key: &'static str, value: i64) {
        ObjectWriter::int(self, key, value);
    }
    fn bool(&mut self, key: &'static str, value: bool) {
        ObjectWriter::bool(self, key, value);
    }
    fn null(&mut self, key: &'static str) {
        ObjectWriter::null(self, key);
    }
    fn raw(&mut self, key: &'static str, json: &'static str, _value: Value) {
        ObjectWriter::raw(self, key, json);
    }
}

struct ValueOut(Map<String, Value>);

impl ItemOut for ValueOut {
    fn str(&mut self, key: &'static str, value: &str) {
        self.0
            .insert(key.to_owned(), Value::String(value.to_owned()));
    }
    fn fmt(&mut self, key: &'static str, args: fmt::Arguments<'_>) {
        self.0
            .insert(key.to_owned(), Value::String(args.to_string()));
    }
    fn int(&mut self, key: &'static str, value: i64) {
        self.0.insert(key.to_owned(), Value::from(value));
    }
    fn bool(&mut self, key: &'static str, value: bool) {
        self.0.insert(key.to_owned(), Value::Bool(value));
    }
    fn null(&mut self, key: &'static str) {
        self.0.insert(key.to_owned(), Value::Null);
    }
    fn raw(&mut self, key: &'static str, _json: &'static str, value: Value) {
        self.0.insert(key.to_owned(), value);
    }
}

fn linkedin_follower(rng: &mut Rng, index: u64, out: &mut impl ItemOut) {
    let id = Token::new(rng, 14, ALNUM);
    out.fmt("id", format_args!("ACoAA{id}{index}"));
    out.fmt("urn", format_args!("urn:li:fsd_profile:ACoAA{id}{index}"));
    let person = Person::new(rng);
    out.fmt("name", format_args!("{}", person.full_name(rng)));
    out.fmt("headline", format_args!("{}", Headline::new(rng)));
    out.fmt(
        "profile_url",
        format_args!(
            "https://www.linkedin.com/in/{}-{}",
            person.slug(),
            Token::new(rng, 6, HEXCH)
        ),
    );
    if rng.chance(40) {
        // No picture: the field is required, so the provider sends an empty string.
        out.str("profile_picture_url", "");
        out.str("profile_picture_url_large", "");
    } else {
        let image = Token::new(rng, 16, ALNUM);
        let ts = 1_500_000_000_000 + rng.below(260_000_000_000);
        let sig = Token::new(rng, 43, URLSAFE);
        out.fmt(
            "profile_picture_url",
            format_args!(
                "https://media.licdn.com/dms/image/v2/{image}/profile-displayphoto-shrink_100_100/0/{ts}?e=1767225600&v=beta&t={sig}"
            ),
        );
        out.fmt(
            "profile_picture_url_large",
            format_args!(
                "https://media.licdn.com/dms/image/v2/{image}/profile-displayphoto-shrink_800_800/0/{ts}?e=1767225600&v=beta&t={sig}"
            ),
        );
    }
}

fn instagram_follower(rng: &mut Rng, index: u64, out: &mut impl ItemOut) {
    let id = 10_000_000_000 + rng.below(89_999_999_999);
    out.fmt("id", format_args!("{id}{index}"));
    out.fmt(
        "messaging_id",
        format_args!(
            "34{}{index}",
            10_000_000_000_000 + rng.below(89_999_999_999_999)
        ),
    );
    let person = Person::new(rng);
    let separator = rng.pick(&[".", "_", "", "__"]);
    match rng.below(3) {
        0 => out.fmt(
            "username",
            format_args!("{}{separator}{}", person.first.1, person.last.1),
        ),
        1 => out.fmt(
            "username",
            format_args!("{}{separator}{}", person.first.1, 70 + rng.below(40)),
        ),
        _ => out.fmt(
            "username",
            format_args!("{}{separator}{}", person.slug(), Token::new(rng, 3, LOWER)),
        ),
    }
    out.fmt("name", format_args!("{}", person.full_name(rng)));
    // Optional in the docs: sometimes left out, sometimes null.
    match rng.below(20) {
        0 => {}
        1 => out.null("profile_picture_url"),
        _ => out.fmt(
            "profile_picture_url",
            format_args!(
                "https://scontent-{}.cdninstagram.com/v/t51.2885-19/{}_n.jpg?stp=dst-jpg_s150x150&_nc_ht=scontent.cdninstagram.com&oh=00_{}&oe={}",
                rng.pick(&["cdg4-1", "fra3-2", "iad3-1", "sin6-4", "gru2-1"]),
                100_000_000 + rng.below(899_999_999),
                Token::new(rng, 40, URLSAFE),
                Token::new(rng, 8, HEXCH_UPPER),
            ),
        ),
    }
    out.bool("is_private", rng.chance(300));
    out.bool("is_verified", rng.chance(30));
}

fn relation(rng: &mut Rng, index: u64, owner: u64, provider: Provider, out: &mut impl ItemOut) {
    let person = Person::new(rng);
    let empty_first = rng.chance(10);
    if empty_first {
        out.str("first_name", "");
    } else {
        out.str("first_name", person.first.0);
    }
    out.fmt("last_name", format_args!("{}", person.last_name(rng)));
    out.fmt("headline", format_args!("{}", Headline::new(rng)));
    let suffix = Token::new(rng, 8, HEXCH);
    out.fmt(
        "public_identifier",
        format_args!("{}-{suffix}", person.slug()),
    );
    match provider {
        Provider::Linkedin => out.fmt(
            "public_profile_url",
            format_args!("https://www.linkedin.com/in/{}-{suffix}", person.slug()),
        ),
        Provider::Instagram => out.fmt(
            "public_profile_url",
            format_args!("https://www.instagram.com/{}-{suffix}/", person.slug()),
        ),
    }
    // 2015-01-01 .. 2026-01-01 in Unix milliseconds.
    let created_at = 1_420_070_400_000 + rng.below(1_767_225_600_000 - 1_420_070_400_000);
    out.int("created_at", created_at as i64);
    let member = Token::new(rng, 14, ALNUM);
    out.fmt("member_id", format_args!("ACoAA{member}{index}"));
    out.fmt(
        "member_urn",
        format_args!("urn:li:fsd_profile:ACoAA{member}{index}"),
    );
    out.fmt(
        "connection_urn",
        format_args!("urn:li:fsd_follow:(ACoAB{owner:016x},ACoAA{member}{index})"),
    );
    match rng.below(12) {
        0 => {}
        1 => out.null("profile_picture_url"),
        _ => out.fmt(
            "profile_picture_url",
            format_args!(
                "https://media.licdn.com/dms/image/v2/{}/profile-displayphoto-shrink_200_200/0/{}?e=1767225600&v=beta&t={}",
                Token::new(rng, 16, ALNUM),
                created_at,
                Token::new(rng, 43, URLSAFE),
            ),
        ),
    }
}

/// (display form, ASCII slug form)
type Name = (&'static str, &'static str);

const FIRST: &[Name] = &[
    ("Jordan", "jordan"),
    ("María", "maria"),
    ("José", "jose"),
    ("Zoë", "zoe"),
    ("Björn", "bjorn"),
    ("Søren", "soren"),
    ("Łukasz", "lukasz"),
    ("Chloé", "chloe"),
    ("François", "francois"),
    ("Ngọc Anh", "ngoc-anh"),
    ("Aiko", "aiko"),
    ("美咲", "misaki"),
    ("伟", "wei"),
    ("Yuki", "yuki"),
    ("Ahmed", "ahmed"),
    ("محمد", "mohammed"),
    ("فاطمة", "fatima"),
    ("Nnamdi", "nnamdi"),
    ("Priya", "priya"),
    ("अर्जुन", "arjun"),
    ("Ólafur", "olafur"),
    ("Дмитрий", "dmitry"),
    ("Анна", "anna"),
    ("Γιώργος", "giorgos"),
    ("יעל", "yael"),
    ("Kwame", "kwame"),
    ("Aroha", "aroha"),
    ("Siobhán", "siobhan"),
    ("Zoltán", "zoltan"),
    ("서연", "seoyeon"),
    ("D'Arcy", "darcy"),
    ("Emma", "emma"),
    ("Liam", "liam"),
    ("Sofía", "sofia"),
    ("Mateo", "mateo"),
    ("Ava", "ava"),
    ("Noah", "noah"),
    ("Ines", "ines"),
    ("Thảo", "thao"),
    ("Ayşe", "ayse"),
];

const LAST: &[Name] = &[
    ("Walke", "walke"),
    ("García", "garcia"),
    ("Müller", "muller"),
    ("Øvergaard", "overgaard"),
    ("Nguyễn", "nguyen"),
    ("Kowalski", "kowalski"),
    ("O'Brien", "obrien"),
    ("Smith", "smith"),
    ("佐藤", "sato"),
    ("田中", "tanaka"),
    ("陈", "chen"),
    ("Иванов", "ivanov"),
    ("Papadopoulos", "papadopoulos"),
    ("כהן", "cohen"),
    ("الحسن", "alhassan"),
    ("Okafor", "okafor"),
    ("शर्मा", "sharma"),
    ("van der Berg", "van-der-berg"),
    ("de la Cruz", "de-la-cruz"),
    ("Żółkiewski", "zolkiewski"),
    ("Johansson", "johansson"),
    ("Rossi", "rossi"),
    ("Dubois", "dubois"),
    ("Yılmaz", "yilmaz"),
    ("김", "kim"),
    ("Mensah", "mensah"),
    ("Silva", "silva"),
    ("Ngata", "ngata"),
];

const ROLES: &[&str] = &[
    "Engineer",
    "Senior Data Engineer",
    "Staff Software Engineer",
    "Product Manager",
    "Founder & CEO",
    "Head of Growth",
    "UX Designer",
    "Recruiter",
    "Student",
    "Ingénieure logiciel",
    "Directora de Marketing",
    "ソフトウェアエンジニア",
    "مهندس برمجيات",
    "Руководитель отдела продаж",
    "Datenwissenschaftlerin",
    "Consultant",
    "Head of People",
    "CTO",
    "Open to work",
    "Freelance photographer",
];

const COMPANIES: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella Corp",
    "Stark Industries",
    "Société Générale",
    "株式会社サンプル",
    "Zürich Versicherung",
    "Café Olé",
    "Müller & Söhne",
    "\"Quotes\" Inc.",
    "Tel Aviv University",
    "بنك الخليج",
    "Yandex",
    "self-employed",
];

const EMOJI: &[&str] = &["🚀", "✨", "🌍", "👩‍💻", "🏳️‍🌈", "☕", "🇫🇷", "📈", "🎨", "🇯🇵"];

/// Values that trip naive writers and readers: quotes, backslashes, newlines, tabs, controls,
/// right-to-left marks, combining characters.
const TRICKY: &[&str] = &[
    "She said \"hi\" and left",
    "C:\\Users\\admin\\",
    "Line one\nLine two",
    "Tabs\tand\r\nCRLF",
    "Bell \u{7} and NUL-adjacent \u{1}",
    "\u{200f}مدير المنتج\u{200f} at Acme",
    "Ame\u{301}lie's \\\"escaped\\\" world",
    "   leading and trailing spaces   ",
    "{\"looks\": \"like json\"}",
    "emoji only 🧑🏽‍🚀🧑🏽‍🚀",
];

struct Person {
    first: Name,
    last: Name,
}

impl Person {
    fn new(rng: &mut Rng) -> Self {
        Self {
            first: rng.pick(FIRST),
            last: rng.pick(LAST),
        }
    }

    fn slug(&self) -> Slug<'_> {
        Slug(self)
    }

    fn full_name(&self, rng: &mut Rng) -> FullName<'_> {
        let style = match rng.below(1000) {
            0..10 => NameStyle::Empty,
            10..25 => NameStyle::Tricky(rng.pick(TRICKY)),
            25..28 => NameStyle::Long,
            28..100 => NameStyle::Emoji(rng.pick(EMOJI)),
            _ => NameStyle::Plain,
        };
        FullName {
            person: self,
            style,
        }
    }

    fn last_name(&self, rng: &mut Rng) -> FullName<'_> {
        let style = match rng.below(1000) {
            0..15 => NameStyle::Empty,
            15..25 => NameStyle::Tricky(rng.pick(TRICKY)),
            _ => NameStyle::LastOnly,
        };
        FullName {
            person: self,
            style,
        }
    }
}

struct Slug<'a>(&'a Person);

impl fmt::Display for Slug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0.first.1, self.0.last.1)
    }
}

enum NameStyle {
    Plain,
    LastOnly,
    Empty,
    Emoji(&'static str),
    Tricky(&'static str),
    Long,
}

struct FullName<'a> {
    person: &'a Person,
    style: NameStyle,
}

impl fmt::Display for FullName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (first, last) = (self.person.first.0, self.person.last.0);
        match self.style {
            NameStyle::Plain => write!(f, "{first} {last}"),
            NameStyle::LastOnly => f.write_str(last),
            NameStyle::Empty => Ok(()),
            NameStyle::Emoji(e) => write!(f, "{first} {last} {e}"),
            NameStyle::Tricky(t) => write!(f, "{first} {t}"),
            NameStyle::Long => {
                for _ in 0..60 {
                    write!(f, "{first} {last} ")?;
                }
                Ok(())
            }
        }
    }
}

enum Headline {
    Empty,
    Role(&'static str, &'static str, Option<&'static str>),
    Tricky(&'static str),
    /// Over 1 KB: some people paste their whole CV.
    Long(&'static str, &'static str),
}

impl Headline {
    fn new(rng: &mut Rng) -> Self {
        match rng.below(1000) {
            0..30 => Headline::Empty,
            30..50 => Headline::Tricky(rng.pick(TRICKY)),
            50..55 => Headline::Long(rng.pick(ROLES), rng.pick(COMPANIES)),
            55..155 => Headline::Role(rng.pick(ROLES), rng.pick(COMPANIES), Some(rng.pick(EMOJI))),
            _ => Headline::Role(rng.pick(ROLES), rng.pick(COMPANIES), None),
        }
    }
}

impl fmt::Display for Headline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Headline::Empty => Ok(()),
            Headline::Role(role, company, None) => write!(f, "{role} at {company}"),
            Headline::Role(role, company, Some(e)) => write!(f, "{e} {role} at {company} | {e}"),
            Headline::Tricky(t) => f.write_str(t),
            Headline::Long(role, company) => {
                for n in 0..40 {
                    write!(f, "{role} at {company} ({n}) · ")?;
                }
                f.write_str("and more…")
            }
        }
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const URLSAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEXCH: &[u8] = b"0123456789abcdef";
const HEXCH_UPPER: &[u8] = b"0123456789ABCDEF";
const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";

/// A fixed-length random ASCII token that formats without allocating.
struct Token {
    buf: [u8; 48],
    len: usize,
}

impl Token {
    fn new(rng: &mut Rng, len: usize, alphabet: &[u8]) -> Self {
        let mut buf = [b'x'; 48];
        let len = len.min(buf.len());
        for b in &mut buf[..len] {
            *b = alphabet[rng.below(alphabet.len() as u64) as usize];
        }
        Self { buf, len }
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.buf[..self.len]).map_err(|_| fmt::Error)?)
    }
}

/// splitmix64: a small, fast, well-mixed generator; reproducible everywhere.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `per_mille / 1000`.
    pub(crate) fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The splitmix64 finaliser: a bijective 64-bit mix.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a, 64 bits: a stable hash of account ids (std's hasher is randomised per process).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::ObjectWriter;

    fn written(list: &ListKey, index: u64) -> Value {
        let mut buf = Vec::new();
        let mut o = ObjectWriter::open(&mut buf);
        list.item(index, &mut o);
        o.close();
        serde_json::from_slice(&buf).unwrap()
    }

    #[test]
    fn writer_and_value_agree() {
        for (provider, dataset) in [
            (Provider::Linkedin, Dataset::Followers),
            (Provider::Instagram, Dataset::Followers),
            (Provider::Linkedin, Dataset::Following),
            (Provider::Instagram, Dataset::Following),
        ] {
            let list = ListKey::new(42, provider, dataset, "acc_x");
            for i in 0..3000 {
                assert_eq!(
                    written(&list, i),
                    expected_item(42, provider, dataset, "acc_x", i),
                    "{provider:?} {dataset:?} {i}"
                );
            }
        }
    }

    #[test]
    fn deterministic_and_varied() {
        let a = expected_item(42, Provider::Linkedin, Dataset::Followers, "acc_a", 5);
        assert_eq!(
            a,
            expected_item(42, Provider::Linkedin, Dataset::Followers, "acc_a", 5)
        );
        assert_ne!(
            a,
            expected_item(43, Provider::Linkedin, Dataset::Followers, "acc_a", 5)
        );
        assert_ne!(
            a,
            expected_item(42, Provider::Linkedin, Dataset::Followers, "acc_b", 5)
        );
        let mut extra = 0;
        let mut long = 0;
        let mut empty = 0;
        let mut ids = std::collections::HashSet::new();
        for i in 0..5000 {
            let v = expected_item(7, Provider::Linkedin, Dataset::Followers, "acc_a", i);
            let o = v.as_object().unwrap();
            extra += usize::from(o.len() > 8);
            long += usize::from(o["headline"].as_str().unwrap().len() > 1024);
            empty += usize::from(o["name"].as_str().unwrap().is_empty());
            assert!(ids.insert(o["id"].as_str().unwrap().to_owned()));
        }
        assert!((50..200).contains(&extra), "extra fields: {extra}");
        assert!(long > 5, "long headlines: {long}");
        assert!(empty > 10, "empty names: {empty}");
    }

    #[test]
    fn created_at_in_range() {
        for i in 0..2000 {
            let v = expected_item(1, Provider::Instagram, Dataset::Following, "acc_i", i);
            let t = v["created_at"].as_i64().unwrap();
            assert!((1_420_070_400_000..1_767_225_600_000).contains(&t));
        }
    }
}
