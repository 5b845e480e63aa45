//! The domain vocabulary every layer shares: providers, datasets, snapshot dates and the
//! compression of the files.
//!
//! Nothing here knows about HTTP, Arrow or storage; it only names things. Each name has one
//! spelling, the lowercase one of job files, paths and manifests, for `Display`, `FromStr` and
//! serde alike.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A social network a linked account belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Linkedin,
    Instagram,
}

impl Provider {
    /// Every provider, in a stable order.
    pub const ALL: [Provider; 2] = [Provider::Linkedin, Provider::Instagram];

    /// The lowercase name used in job files, partitions and manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Linkedin => "linkedin",
            Provider::Instagram => "instagram",
        }
    }

    /// The largest `limit` the API accepts for this provider and dataset (the docs' bounds).
    pub fn max_page_size(self, dataset: Dataset) -> u32 {
        match (dataset, self) {
            (Dataset::Followers, Provider::Linkedin) => 100,
            (Dataset::Followers, Provider::Instagram) => 200,
            (Dataset::Following, _) => 1000,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "linkedin" => Ok(Provider::Linkedin),
            "instagram" => Ok(Provider::Instagram),
            _ => Err(()),
        }
    }
}

/// One of the two lists the job exports per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dataset {
    /// `GET /users/followers`.
    Followers,
    /// `GET /users/following`.
    Following,
}

impl Dataset {
    /// Both datasets, in the order units are planned.
    pub const ALL: [Dataset; 2] = [Dataset::Followers, Dataset::Following];

    /// The lowercase name used in job files, paths and manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Dataset::Followers => "followers",
            Dataset::Following => "following",
        }
    }

    /// The API path below the base URL.
    pub fn endpoint(self) -> &'static str {
        match self {
            Dataset::Followers => "users/followers",
            Dataset::Following => "users/following",
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dataset {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "followers" => Ok(Dataset::Followers),
            "following" => Ok(Dataset::Following),
            _ => Err(()),
        }
    }
}

/// The Parquet codec of the data columns (`output.compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// zstd, the default (level 1: as small as level 3 on these pages, and faster).
    Zstd,
    /// snappy: faster to write, larger files.
    Snappy,
    /// gzip: for readers that know no other codec.
    Gzip,
    None,
}

impl Compression {
    /// Every codec, in the order the job file's error message lists them.
    pub const ALL: [Compression; 4] = [
        Compression::Zstd,
        Compression::Snappy,
        Compression::Gzip,
        Compression::None,
    ];

    /// The name used in job files.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Snappy => "snappy",
            Compression::Gzip => "gzip",
            Compression::None => "none",
        }
    }
}

impl FromStr for Compression {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Compression::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(())
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The date a run's lists are filed under (`--snapshot-date`, UTC): the `snapshot_date=`
/// partition of every path, a `date32` for readers. Written `YYYY-MM-DD`, strictly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SnapshotDate(NaiveDate);

impl SnapshotDate {
    /// The date as a calendar date.
    pub fn date(self) -> NaiveDate {
        self.0
    }

    /// Days since 1970-01-01: the Parquet `date32` of the date.
    pub fn days_since_epoch(self) -> i32 {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
        i32::try_from((self.0 - epoch).num_days()).unwrap_or(0)
    }

    /// The next day, if the calendar has one.
    pub fn succ(self) -> Option<SnapshotDate> {
        self.0.succ_opt().map(SnapshotDate)
    }

    /// The date `days` days earlier, if the calendar has one.
    pub fn days_before(self, days: u64) -> Option<SnapshotDate> {
        self.0
            .checked_sub_days(chrono::Days::new(days))
            .map(SnapshotDate)
    }
}

impl From<NaiveDate> for SnapshotDate {
    fn from(d: NaiveDate) -> SnapshotDate {
        SnapshotDate(d)
    }
}

impl FromStr for SnapshotDate {
    type Err = ();
    /// Strictly `YYYY-MM-DD` (no `2026-2-3`), a real calendar day.
    fn from_str(s: &str) -> Result<Self, ()> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .filter(|_| s.len() == 10)
            .map(SnapshotDate)
            .ok_or(())
    }
}

impl fmt::Display for SnapshotDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl Serialize for SnapshotDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SnapshotDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse()
            .map_err(|()| serde::de::Error::custom(format!("{s:?} is not a YYYY-MM-DD date")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each name has one spelling, the same for Display, FromStr and serde; snapshot dates are
    /// strict and count days from the epoch.
    #[test]
    fn one_spelling_per_name() {
        for p in Provider::ALL {
            assert_eq!(p.to_string().parse::<Provider>(), Ok(p));
            let json = serde_json::to_string(&p).expect("serialises");
            assert_eq!(json, format!("\"{p}\""));
        }
        for d in Dataset::ALL {
            assert_eq!(d.to_string().parse::<Dataset>(), Ok(d));
            assert_eq!(serde_json::to_string(&d).expect("ser"), format!("\"{d}\""));
        }
        for c in Compression::ALL {
            assert_eq!(c.to_string().parse::<Compression>(), Ok(c));
            assert_eq!(serde_json::to_string(&c).expect("ser"), format!("\"{c}\""));
        }
        let d: SnapshotDate = "1970-01-11".parse().expect("date");
        assert_eq!(d.days_since_epoch(), 10);
        assert_eq!(d.to_string(), "1970-01-11");
        assert_eq!(d.days_before(10).map(|d| d.days_since_epoch()), Some(0));
        assert_eq!(
            d.succ().map(|d| d.to_string()).as_deref(),
            Some("1970-01-12")
        );
        assert_eq!(serde_json::to_string(&d).expect("ser"), "\"1970-01-11\"");
        let back: SnapshotDate = serde_json::from_str("\"1970-01-11\"").expect("de");
        assert_eq!(back, d);
        for bad in ["2026-2-3", "2026-02-30", "26-11-26", ""] {
            assert!(bad.parse::<SnapshotDate>().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<SnapshotDate>("\"2026-02-30\"").is_err());
    }
}
