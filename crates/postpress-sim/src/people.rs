//! The fake people behind the items: names, headlines and tokens, in many scripts.
//!
//! Owns the vocabularies (Unicode names, roles, companies, emoji, values that trip naive
//! writers) and the small `Display` types that format them without allocating. It must not know
//! which fields an item has: `data` decides that and draws from here.

use std::fmt;

use super::rng::Rng;

/// (display form, ASCII slug form)
pub(crate) type Name = (&'static str, &'static str);

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

/// A person: a first and a last name.
pub(crate) struct Person {
    pub(crate) first: Name,
    pub(crate) last: Name,
}

impl Person {
    pub(crate) fn new(rng: &mut Rng) -> Self {
        Self {
            first: rng.pick(FIRST),
            last: rng.pick(LAST),
        }
    }

    pub(crate) fn slug(&self) -> Slug<'_> {
        Slug(self)
    }

    pub(crate) fn full_name(&self, rng: &mut Rng) -> FullName<'_> {
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

    pub(crate) fn last_name(&self, rng: &mut Rng) -> FullName<'_> {
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

pub(crate) struct Slug<'a>(&'a Person);

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

pub(crate) struct FullName<'a> {
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

/// A profile headline, from empty to a pasted CV.
pub(crate) enum Headline {
    Empty,
    Role(&'static str, &'static str, Option<&'static str>),
    Tricky(&'static str),
    /// Over 1 KB: some people paste their whole CV.
    Long(&'static str, &'static str),
}

impl Headline {
    pub(crate) fn new(rng: &mut Rng) -> Self {
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

pub(crate) const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub(crate) const URLSAFE: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
pub(crate) const HEXCH: &[u8] = b"0123456789abcdef";
pub(crate) const HEXCH_UPPER: &[u8] = b"0123456789ABCDEF";
pub(crate) const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";

/// A fixed-length random ASCII token that formats without allocating.
pub(crate) struct Token {
    buf: [u8; 48],
    len: usize,
}

impl Token {
    pub(crate) fn new(rng: &mut Rng, len: usize, alphabet: &[u8]) -> Self {
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
