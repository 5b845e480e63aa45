//! The simulator's deterministic fake people: every item of every list.
//!
//! Owns the two provider variants of a follower, the relation item of the following list, and
//! the rule that item `i` of `(account, dataset)` is a pure function of
//! `(seed, provider, account_id, dataset, i)`. It writes items through `out::ItemOut`, so the
//! hot path renders straight into a page buffer and [`expected_item`] builds the very same
//! item as a `serde_json::Value` for tests. An item's content depends on its index alone, so an
//! item looks the same on every day it is in a list (`churn` decides which indices those are).
//! It must not know about HTTP, cursors or faults.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::out::{ItemOut, KeyOut, ValueOut};
use super::people::{ALNUM, HEXCH, HEXCH_UPPER, Headline, LOWER, Person, Token, URLSAFE};
use super::rng::{Rng, fnv1a, mix};

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

    /// The field that identifies an item of this list: `id` for a follower, `member_id` for a
    /// followed account (a `UserRelation` has no `id`).
    pub fn key_field(self) -> &'static str {
        match self {
            Dataset::Followers => "id",
            Dataset::Following => "member_id",
        }
    }

    /// The other list of the account.
    pub(crate) fn index(self) -> usize {
        match self {
            Dataset::Followers => 0,
            Dataset::Following => 1,
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
    expected_item_shared(seed, 0.0, provider, dataset, account_id, index)
}

/// [`expected_item`] of a simulator started with `--shared-followers shared`.
pub fn expected_item_shared(
    seed: u64,
    shared: f64,
    provider: Provider,
    dataset: Dataset,
    account_id: &str,
    index: u64,
) -> Value {
    let list =
        ListKey::new(seed, provider, dataset, account_id).with_shared(Shared::new(seed, shared));
    let mut out = ValueOut(Map::new());
    list.item(index, &mut out);
    Value::Object(out.0)
}

/// The key ([`Dataset::key_field`]) of item `index` of the list `(account_id, dataset)`:
/// the same string as `expected_item(..)[dataset.key_field()]`, without building the item.
pub fn expected_key(
    seed: u64,
    provider: Provider,
    dataset: Dataset,
    account_id: &str,
    index: u64,
) -> String {
    ListKey::new(seed, provider, dataset, account_id).key(index)
}

/// The key of a served item (`id` of a follower, `member_id` of a followed account), if it has
/// one that is a string.
pub fn item_key(dataset: Dataset, item: &Value) -> Option<&str> {
    item.get(dataset.key_field()).and_then(Value::as_str)
}

/// The per-list part of every item's seed, computed once per page rather than per item.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListKey {
    base: u64,
    owner: u64,
    provider: Provider,
    dataset: Dataset,
    shared: Shared,
}

/// The population shared by every account (`--shared-followers F`): item index `i` is one of
/// its people, in every list that has an item `i`, with probability `F` drawn from the seed and
/// `i` alone. A shared person's key comes from the seed and `i` only, so the same person is the
/// follower `id` of every LinkedIn list holding item `i` and the `member_id` of every following
/// list holding it (an Instagram follower's numeric id is shared among Instagram lists). Keys stay
/// unique within a list because `i` ends every key. Churn decides which indices a list holds on
/// a day, so sharing composes with it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Shared {
    /// `F · 2^64`: index `i` is shared when its draw is below; 0 shares nothing.
    threshold: u64,
    /// Seeds the shared people's keys and content.
    base: u64,
}

impl Shared {
    /// The shared population of `seed` for a fraction `fraction` (0 to 1) of every list.
    pub(crate) fn new(seed: u64, fraction: f64) -> Self {
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        // `as` saturates, so a fraction of 1 shares every index.
        let threshold = (fraction * 18_446_744_073_709_551_616.0) as u64;
        Self {
            threshold,
            base: mix(seed ^ 0x5ba2_ed00_9e09_1e5f),
        }
    }

    /// The generator of shared person `index`'s key, when item `index` is one of them.
    fn person(&self, index: u64) -> Option<Rng> {
        if self.threshold == 0 {
            return None;
        }
        let draw = mix(self.base ^ index.wrapping_mul(0xd6e8_feb8_6659_fd93));
        (draw < self.threshold || self.threshold == u64::MAX)
            .then(|| Rng(mix(self.base ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15))))
    }
}

impl ListKey {
    pub(crate) fn new(seed: u64, provider: Provider, dataset: Dataset, account_id: &str) -> Self {
        let account = fnv1a(account_id.as_bytes());
        let base =
            mix(mix(mix(seed ^ 0x5eed) ^ account) ^ (dataset.tag() << 8 | provider_tag(provider)));
        Self {
            base,
            owner: mix(account ^ seed),
            provider,
            dataset,
            shared: Shared::default(),
        }
    }

    /// The same list with a fraction of its items drawn from the shared population.
    pub(crate) fn with_shared(mut self, shared: Shared) -> Self {
        self.shared = shared;
        self
    }

    /// The seed of this list's day-to-day churn.
    pub(crate) fn churn_seed(&self) -> u64 {
        mix(self.base ^ 0xc4a2_11d7_03e9_5b6f)
    }

    /// The key field of item `index`, generated without formatting the rest of the item.
    pub(crate) fn key(&self, index: u64) -> String {
        let mut out = KeyOut {
            field: self.dataset.key_field(),
            value: String::new(),
        };
        self.item(index, &mut out);
        out.value
    }

    /// A hash of the list and `words`, for decisions that belong to pages (short pages).
    pub(crate) fn page_hash(&self, words: &[u64]) -> u64 {
        words
            .iter()
            .fold(mix(self.base ^ 0xface), |h, w| mix(h ^ w))
    }

    /// Emits item `index` of this list into `out`.
    pub(crate) fn item(&self, index: u64, out: &mut impl ItemOut) {
        let mut person = self.shared.person(index);
        // A shared person's other fields come from the population's seed too, so they look the
        // same in every list of the same variant.
        let base = match person {
            Some(_) => {
                mix(self.shared.base ^ (self.dataset.tag() << 8 | provider_tag(self.provider)))
            }
            None => self.base,
        };
        let mut rng = Rng(mix(base ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        out.str("object", self.dataset.item_object());
        let person = person.as_mut();
        match (self.dataset, self.provider) {
            (Dataset::Followers, Provider::Linkedin) => {
                linkedin_follower(&mut rng, person, index, out)
            }
            (Dataset::Followers, Provider::Instagram) => {
                instagram_follower(&mut rng, person, index, out)
            }
            (Dataset::Following, provider) => {
                relation(&mut rng, person, index, self.owner, provider, out)
            }
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

fn provider_tag(provider: Provider) -> u64 {
    match provider {
        Provider::Linkedin => 0x11,
        Provider::Instagram => 0x22,
    }
}

/// The key's token: a shared person's own, else the next draw of the item's generator (the
/// same draw as before sharing existed, so lists without it are unchanged).
fn key_token(rng: &mut Rng, person: Option<&mut Rng>) -> Token {
    Token::new(person.unwrap_or(rng), 14, ALNUM)
}

fn linkedin_follower(rng: &mut Rng, person: Option<&mut Rng>, index: u64, out: &mut impl ItemOut) {
    let id = key_token(rng, person);
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

fn instagram_follower(rng: &mut Rng, person: Option<&mut Rng>, index: u64, out: &mut impl ItemOut) {
    let id = 10_000_000_000 + person.unwrap_or(rng).below(89_999_999_999);
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

fn relation(
    rng: &mut Rng,
    person_key: Option<&mut Rng>,
    index: u64,
    owner: u64,
    provider: Provider,
    out: &mut impl ItemOut,
) {
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
    let member = key_token(rng, person_key);
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
    fn keys_match_items() {
        for (provider, dataset) in [
            (Provider::Linkedin, Dataset::Followers),
            (Provider::Instagram, Dataset::Followers),
            (Provider::Instagram, Dataset::Following),
        ] {
            for i in [0, 1, 99, 12_345, 4_000_000_000] {
                let item = expected_item(3, provider, dataset, "acc_k", i);
                let key = expected_key(3, provider, dataset, "acc_k", i);
                assert_eq!(item_key(dataset, &item), Some(key.as_str()));
                assert!(!key.is_empty());
            }
        }
        assert_eq!(item_key(Dataset::Following, &json!({"id": "x"})), None);
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
