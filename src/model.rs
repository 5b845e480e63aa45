//! The domain vocabulary every layer shares: providers and datasets.
//!
//! Nothing here knows about HTTP, Arrow or storage; it only names things.

use std::fmt;
use std::str::FromStr;

/// A social network a linked account belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// LinkedIn.
    Linkedin,
    /// Instagram.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
