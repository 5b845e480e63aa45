//! `postpress-etl views`: DuckDB `CREATE VIEW` statements over a job's output, one per reader
//! table (SPEC §9) and unit dataset (SPEC §4), so an analyst writes `FROM follower_changes`
//! instead of a `read_parquet` glob.
//!
//! This module knows the output's layout as globs and DuckDB's SQL; it reads nothing but the
//! job file and, for a local output, the directory listing (never a Parquet file, never the API).

use crate::job::{Job, JobError, LoadOptions};
use std::path::{Component, Path, PathBuf};

/// Everything that stops `views`.
#[derive(Debug, thiserror::Error)]
pub enum ViewsError {
    /// The job file (or `--output`) is not valid: exit 2.
    #[error(transparent)]
    Job(#[from] JobError),
    /// The working directory is needed to make a relative output path absolute.
    #[error("cannot resolve the relative output path {path:?}: no working directory")]
    NoWorkingDirectory {
        /// The output path as written.
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A local output that is not there: nothing was exported to it yet, or a typo.
    #[error(
        "output {path} does not exist; run the job first, or name its output with --output PATH"
    )]
    NoOutput {
        /// The absolute path.
        path: String,
    },
    /// A path DuckDB cannot take as a glob prefix or SQL literal as it is.
    #[error(
        "output {path:?} is not allowed in a view: it {why}; use a path without glob characters (*?[]{{}}), not valid UTF-8 or with a newline"
    )]
    UnusablePath {
        /// The path as resolved.
        path: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A local output directory that cannot be listed.
    #[error("cannot list {path}")]
    List {
        /// The directory.
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl ViewsError {
    /// The exit code of SPEC §5: 2 for a job, flag or path error, 1 for a destination error.
    pub fn exit(&self) -> crate::report::exit::Exit {
        use crate::report::exit::Exit;
        match self {
            ViewsError::List { .. } | ViewsError::NoWorkingDirectory { .. } => Exit::Fatal,
            _ => Exit::Usage,
        }
    }
}

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

/// Where the output is, as DuckDB will read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// An absolute local directory, without a trailing slash.
    Local(PathBuf),
    /// `s3://bucket/prefix`, without a trailing slash.
    S3(String),
}

impl Root {
    /// The root of `output.url` (a path, `file://` URL or `s3://` URL, as the job layer
    /// accepted it), a relative path resolved against `cwd`.
    pub fn resolve(
        url: &str,
        cwd: impl FnOnce() -> std::io::Result<PathBuf>,
    ) -> Result<Root, ViewsError> {
        if url.starts_with("s3://") {
            let url = url.trim_end_matches('/');
            check_text(url)?;
            return Ok(Root::S3(url.to_owned()));
        }
        let path = Path::new(url.strip_prefix("file://").unwrap_or(url));
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            let base = cwd().map_err(|source| ViewsError::NoWorkingDirectory {
                path: url.to_owned(),
                source,
            })?;
            base.join(path)
        };
        let abs = normalize(&abs);
        let text = abs.to_str().ok_or_else(|| ViewsError::UnusablePath {
            path: abs.display().to_string(),
            why: "is not valid UTF-8",
        })?;
        check_text(text)?;
        Ok(Root::Local(abs))
    }

    /// The root as text, for globs and comments.
    fn text(&self) -> String {
        match self {
            // Checked to be UTF-8 in `resolve`.
            Root::Local(p) => p.to_string_lossy().into_owned(),
            Root::S3(u) => u.clone(),
        }
    }
}

/// `.` dropped and `..` applied lexically (the directory may not exist yet).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Rejects what would change the meaning of the glob or break the SQL comment it is echoed in.
fn check_text(text: &str) -> Result<(), ViewsError> {
    let bad = |why| {
        Err(ViewsError::UnusablePath {
            path: text.to_owned(),
            why,
        })
    };
    if text.contains(['*', '?', '[', ']', '{', '}']) {
        return bad("holds a glob character");
    }
    if text.contains(['\n', '\r']) {
        return bad("holds a line break");
    }
    Ok(())
}

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

/// Whether a local glob of `*` directories ending in `*.parquet` matches at least one file.
/// A missing directory matches nothing; one that cannot be listed is an error.
pub fn local_presence(root: &Path, glob: &str) -> Result<Presence, ViewsError> {
    let segments: Vec<&str> = glob.split('/').collect();
    let found = matches(root, &segments)?;
    Ok(if found {
        Presence::Files
    } else {
        Presence::NoFiles
    })
}

fn matches(dir: &Path, segments: &[&str]) -> Result<bool, ViewsError> {
    let Some((first, rest)) = segments.split_first() else {
        return Ok(false);
    };
    let list_error = |source| ViewsError::List {
        path: dir.display().to_string(),
        source,
    };
    if *first != "*" && !first.contains('*') {
        let next = dir.join(first);
        return if rest.is_empty() {
            Ok(next.is_file())
        } else {
            matches(&next, rest)
        };
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(list_error(e)),
    };
    for entry in entries {
        let entry = entry.map_err(list_error)?;
        let path = entry.path();
        if rest.is_empty() {
            let suffix = first.trim_start_matches('*');
            let name = entry.file_name();
            if path.is_file() && name.to_string_lossy().ends_with(suffix) {
                return Ok(true);
            }
        } else if path.is_dir() && matches(&path, rest)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The whole command: load the job (no API key needed), resolve its output, list it when it is
/// local, and return the SQL to print.
pub fn command(job: &Path, output: Option<String>) -> Result<String, ViewsError> {
    let job = Job::load(job, &LoadOptions::from_env(output, false))?;
    let root = Root::resolve(&job.output.url, std::env::current_dir)?;
    match &root {
        Root::S3(_) => Ok(render(
            &root,
            &S3Settings::from_vars(|k| std::env::var(k).ok()),
            |_| Presence::Unknown,
        )),
        Root::Local(dir) => {
            if !dir.is_dir() {
                return Err(ViewsError::NoOutput {
                    path: dir.display().to_string(),
                });
            }
            let mut found = Vec::with_capacity(VIEWS.len());
            for v in &VIEWS {
                found.push((v.name, local_presence(dir, v.glob)?));
            }
            Ok(render(&root, &S3Settings::default(), |v| {
                found
                    .iter()
                    .find(|(n, _)| *n == v.name)
                    .map_or(Presence::NoFiles, |(_, p)| *p)
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cwd() -> std::io::Result<PathBuf> {
        Ok(PathBuf::from("/home/ana/work"))
    }

    #[test]
    fn relative_paths_become_absolute_and_normal() -> Result<(), ViewsError> {
        assert_eq!(
            Root::resolve("./out", cwd)?,
            Root::Local("/home/ana/work/out".into())
        );
        assert_eq!(
            Root::resolve("../data/out/", cwd)?,
            Root::Local("/home/ana/data/out".into())
        );
        assert_eq!(
            Root::resolve("file:///srv/pp", cwd)?,
            Root::Local("/srv/pp".into())
        );
        assert_eq!(
            Root::resolve("s3://bucket/pre/fix/", cwd)?,
            Root::S3("s3://bucket/pre/fix".into())
        );
        Ok(())
    }

    #[test]
    fn glob_characters_and_line_breaks_are_refused() {
        for bad in ["/tmp/a*b", "out[1]", "s3://b/p?x", "/tmp/a\nCREATE"] {
            let e = Root::resolve(bad, cwd).err();
            assert!(
                matches!(e, Some(ViewsError::UnusablePath { .. })),
                "{bad:?}: {e:?}"
            );
            assert_eq!(e.map(|e| e.exit().code()), Some(2));
        }
    }

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

    #[test]
    fn local_presence_follows_the_glob_depth() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        assert_eq!(
            local_presence(root, "tables/account_daily/*/*.parquet")?,
            Presence::NoFiles
        );
        let part = root.join("tables/account_daily/snapshot_date=2024-05-01");
        std::fs::create_dir_all(&part)?;
        std::fs::write(part.join("notes.txt"), "x")?;
        assert_eq!(
            local_presence(root, "tables/account_daily/*/*.parquet")?,
            Presence::NoFiles
        );
        std::fs::write(part.join("part-00000.parquet"), "x")?;
        assert_eq!(
            local_presence(root, "tables/account_daily/*/*.parquet")?,
            Presence::Files
        );
        // One level too deep or too shallow matches nothing.
        assert_eq!(
            local_presence(root, "tables/account_daily/*/*/*.parquet")?,
            Presence::NoFiles
        );
        assert_eq!(local_presence(root, "tables/*.parquet")?, Presence::NoFiles);
        Ok(())
    }
}
