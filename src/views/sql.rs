//! The views and the SQL that creates them: one `CREATE VIEW` per reader table and unit
//! dataset over its glob below the output's root, and for an S3 output the `httpfs` secret with
//! the endpoint and region of the environment.
//!
//! Knows DuckDB's SQL and the output's layout as globs; it reads nothing (what exists is told to
//! it as a [`Presence`] per view).

use super::root::Root;

/// One view: its name, what it reads, and its glob below the output's root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// The view's name in DuckDB.
    pub name: &'static str,
    /// One line on what it holds, printed as a comment above it.
    pub about: &'static str,
    /// The glob below the output URL, one `*` per partition directory.
    pub glob: &'static str,
}

/// Every view, reader tables first (what analysts read), then the unit datasets.
pub const VIEWS: [View; 7] = [
    View {
        name: "followers",
        about: "every account's followers on each snapshot date (tables/followers)",
        glob: "tables/followers/*/*/*.parquet",
    },
    View {
        name: "following",
        about: "every account's followed members on each snapshot date (tables/following)",
        glob: "tables/following/*/*/*.parquet",
    },
    View {
        name: "follower_changes",
        about: "followers gained and lost against the previous complete snapshot",
        glob: "tables/follower_changes/*/*/*.parquet",
    },
    View {
        name: "following_changes",
        about: "followed members gained and lost against the previous complete snapshot",
        glob: "tables/following_changes/*/*/*.parquet",
    },
    View {
        name: "account_daily",
        about: "one row per account, dataset and date: status, records, gained, lost",
        glob: "tables/account_daily/*/*.parquet",
    },
    View {
        name: "unit_followers",
        about: "the published units of the followers dataset, as fetched (SPEC section 4)",
        glob: "followers/*/*/*/*.parquet",
    },
    View {
        name: "unit_following",
        about: "the published units of the following dataset, as fetched (SPEC section 4)",
        glob: "following/*/*/*/*.parquet",
    },
];

/// What `views` knows of each view's files before printing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// At least one file matches: the view is created.
    Files,
    /// No file matches (a local output listed): the view is left out, with a comment, since
    /// DuckDB refuses a view whose glob matches nothing.
    NoFiles,
    /// Not listed (S3): the view is printed; DuckDB reports it if nothing matches yet.
    Unknown,
}

/// What DuckDB's S3 secret needs beyond the credential chain, from the same environment the job
/// reads (`AWS_ENDPOINT_URL`, `AWS_REGION` / `AWS_DEFAULT_REGION`), so an S3-compatible store
/// works without editing the SQL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// `host[:port]` of an S3-compatible store; `None` for AWS itself.
    pub endpoint: Option<String>,
    /// Whether that endpoint is plain `http://`.
    pub plain_http: bool,
    /// The bucket's region.
    pub region: Option<String>,
}

impl S3Settings {
    /// From environment variables read through `var` (empty values count as unset); values that
    /// would not fit in a SQL literal are left out (the SQL's comment says to edit the secret).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> S3Settings {
        let get = |k: &str| {
            var(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let plain = |v: &str| !v.contains(['\'', '\n', '\r']);
        let (endpoint, plain_http) = match get("AWS_ENDPOINT_URL") {
            Some(url) => {
                let (rest, http) = match url.strip_prefix("http://") {
                    Some(r) => (r.to_owned(), true),
                    None => (
                        url.strip_prefix("https://").unwrap_or(&url).to_owned(),
                        false,
                    ),
                };
                let host = rest.split('/').next().unwrap_or_default().to_owned();
                (Some(host).filter(|h| !h.is_empty() && plain(h)), http)
            }
            None => (None, false),
        };
        let region = get("AWS_REGION")
            .or_else(|| get("AWS_DEFAULT_REGION"))
            .filter(|r| plain(r));
        S3Settings {
            endpoint,
            plain_http,
            region,
        }
    }

    /// The options of `CREATE SECRET` after `TYPE s3, PROVIDER credential_chain`.
    fn options(&self) -> String {
        let mut o = String::new();
        if let Some(r) = &self.region {
            o.push_str(&format!(", REGION '{r}'"));
        }
        if let Some(e) = &self.endpoint {
            o.push_str(&format!(", ENDPOINT '{e}', URL_STYLE 'path'"));
            if self.plain_http {
                o.push_str(", USE_SSL false");
            }
        }
        o
    }
}

/// The SQL for the output at `root` (`s3` used for an `s3://` root), `presence` telling for
/// each view whether it has files.
pub fn render(root: &Root, s3: &S3Settings, presence: impl Fn(&View) -> Presence) -> String {
    let base = root.text();
    let mut sql = String::new();
    sql.push_str("-- DuckDB views over the postpress-etl output at ");
    sql.push_str(&base);
    sql.push_str(
        "\n-- Generated by `postpress-etl views`; rerun it after a new table's first files appear.\n\
         -- Partition columns (provider, snapshot_date and, in the unit datasets, account_id) come\n\
         -- from the paths (hive_partitioning); union_by_name joins the providers' different columns.\n",
    );
    if let Root::S3(_) = root {
        sql.push_str(
            "--\n\
             -- S3: DuckDB reads s3:// through its httpfs extension, with a secret. The one below takes\n\
             -- credentials the standard AWS way (environment, profile, web identity, instance role)\n\
             -- through the aws extension; REGION and, for an S3-compatible store (MinIO, Ceph, R2),\n\
             -- ENDPOINT 'host:port', URL_STYLE 'path' and USE_SSL false (plain http) come from\n\
             -- AWS_REGION and AWS_ENDPOINT_URL when `views` ran: edit them here if they differ.\n\
             -- A view whose table has no file yet fails to create (DuckDB says no file matches);\n\
             -- the others are created, and rerunning this after its first finalize adds it.\n\
             INSTALL httpfs;\nLOAD httpfs;\n",
        );
        sql.push_str(&format!(
            "CREATE OR REPLACE SECRET postpress_etl_s3 (TYPE s3, PROVIDER credential_chain{});\n",
            s3.options()
        ));
    }
    for v in &VIEWS {
        let glob = format!("{base}/{}", v.glob);
        sql.push('\n');
        sql.push_str(&format!("-- {}: {}\n", v.name, v.about));
        if presence(v) == Presence::NoFiles {
            sql.push_str(&format!(
                "-- (not created: no file matches {glob} yet; DuckDB refuses a view over no file)\n"
            ));
            continue;
        }
        sql.push_str(&format!(
            "CREATE OR REPLACE VIEW {} AS\n  SELECT * FROM read_parquet('{}', hive_partitioning = true, union_by_name = true);\n",
            v.name,
            glob.replace('\'', "''"),
        ));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_views_read_absolute_globs_and_quote_them() {
        let root = Root::Local("/data/it's here".into());
        let sql = render(&root, &S3Settings::default(), |_| Presence::Files);
        assert!(sql.contains(
            "CREATE OR REPLACE VIEW follower_changes AS\n  SELECT * FROM read_parquet('/data/it''s here/tables/follower_changes/*/*/*.parquet', hive_partitioning = true, union_by_name = true);"
        ), "{sql}");
        assert!(sql.contains("'/data/it''s here/followers/*/*/*/*.parquet'"));
        assert_eq!(sql.matches("CREATE OR REPLACE VIEW").count(), 7);
        assert!(!sql.contains("httpfs"));
    }

    #[test]
    fn a_view_without_files_is_a_comment_only() {
        let root = Root::Local("/o".into());
        let sql = render(&root, &S3Settings::default(), |v| {
            if v.name == "account_daily" {
                Presence::NoFiles
            } else {
                Presence::Files
            }
        });
        assert_eq!(sql.matches("CREATE OR REPLACE VIEW").count(), 6);
        assert!(!sql.contains("VIEW account_daily"));
        assert!(
            sql.contains(
                "-- (not created: no file matches /o/tables/account_daily/*/*.parquet yet"
            )
        );
    }

    #[test]
    fn s3_views_name_what_duckdb_needs() {
        let root = Root::S3("s3://bkt/pp".into());
        let sql = render(&root, &S3Settings::default(), |_| Presence::Unknown);
        assert!(sql.contains("LOAD httpfs;"));
        assert!(sql.contains(
            "CREATE OR REPLACE SECRET postpress_etl_s3 (TYPE s3, PROVIDER credential_chain);"
        ));
        assert!(sql.contains("ENDPOINT 'host:port'"), "the comment names it");
        assert!(sql.contains("read_parquet('s3://bkt/pp/tables/account_daily/*/*.parquet'"));
        assert_eq!(sql.matches("CREATE OR REPLACE VIEW").count(), 7);
    }

    #[test]
    fn the_s3_secret_takes_endpoint_and_region_from_the_environment() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let minio = S3Settings::from_vars(vars(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ]));
        let sql = render(&Root::S3("s3://b/p".into()), &minio, |_| Presence::Unknown);
        assert!(sql.contains(
            "(TYPE s3, PROVIDER credential_chain, REGION 'us-east-1', ENDPOINT '127.0.0.1:9000', URL_STYLE 'path', USE_SSL false);"
        ), "{sql}");
        let r2 = S3Settings::from_vars(vars(&[
            ("AWS_ENDPOINT_URL", "https://acct.r2.example.com"),
            ("AWS_REGION", "auto"),
            ("AWS_DEFAULT_REGION", "ignored"),
        ]));
        assert_eq!(
            r2.options(),
            ", REGION 'auto', ENDPOINT 'acct.r2.example.com', URL_STYLE 'path'"
        );
        let odd = S3Settings::from_vars(vars(&[
            ("AWS_ENDPOINT_URL", "http://h'x:1"),
            ("AWS_REGION", " "),
        ]));
        assert_eq!(
            odd,
            S3Settings {
                endpoint: None,
                plain_http: true,
                region: None
            }
        );
        assert_eq!(odd.options(), "");
    }
}
