//! Job file → validated [`Job`] (`validated.rs`): every rule of SPEC §2, checked once, at load.
//!
//! Errors name the file, the key, the bad value and what is allowed.

use super::file::{ApiFile, JobFile};
use super::origin::header_safe;
use super::validated::{Api, Fetch, Job, JobName, Output};
use crate::api::secret::ApiKey;
use crate::model::Compression;
use std::fmt;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use super::error::{JobError, Result};

/// Options from outside the job file: the environment and flags.
#[derive(Debug, Default, Clone)]
pub struct LoadOptions {
    /// The value of `POSTPRESS_API_KEY`, which wins over `api.api_key_file`.
    pub api_key_env: Option<String>,
    /// The value of `POSTPRESS_BASE_URL`, which wins over `api.base_url`.
    pub base_url_env: Option<String>,
    /// `--output`, which wins over `output.url`.
    pub output_url: Option<String>,
    /// When false, a missing or unreadable key is not an error (`Api::api_key` is `None`).
    /// `run` and `validate` both require it.
    pub require_api_key: bool,
}

impl LoadOptions {
    /// Reads `POSTPRESS_API_KEY` and `POSTPRESS_BASE_URL` from the process environment.
    pub fn from_env(output_url: Option<String>, require_api_key: bool) -> LoadOptions {
        let non_empty = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        LoadOptions {
            api_key_env: non_empty("POSTPRESS_API_KEY"),
            base_url_env: non_empty("POSTPRESS_BASE_URL"),
            output_url,
            require_api_key,
        }
    }
}

/// Describes where the key would come from, for `validate` (never the key itself).
pub fn api_key_source(opts: &LoadOptions, key_file: Option<&Path>) -> String {
    match (&opts.api_key_env, key_file) {
        (Some(_), _) => "environment variable POSTPRESS_API_KEY".to_owned(),
        (None, Some(f)) => format!("file {}", f.display()),
        (None, None) => "none (set POSTPRESS_API_KEY or api.api_key_file)".to_owned(),
    }
}

impl Job {
    /// Reads and validates a job file.
    pub fn load(path: &Path, opts: &LoadOptions) -> Result<Job> {
        let text = std::fs::read_to_string(path).map_err(|source| JobError::Read {
            path: path.to_owned(),
            source,
        })?;
        Job::from_toml(path, &text, opts)
    }

    /// Validates job file text; `path` names it in errors and anchors `accounts_file`.
    pub fn from_toml(path: &Path, text: &str, opts: &LoadOptions) -> Result<Job> {
        let file: JobFile = toml::from_str(text).map_err(|e| JobError::Parse {
            path: path.to_owned(),
            // The parser's caret snippet is several lines; it stays as it is.
            message: e.to_string().trim_end().to_owned(),
        })?;
        let v = Validator { path };
        v.job(file, opts)
    }
}

/// Validation of one job file, naming it in every error.
pub(super) struct Validator<'a> {
    pub(super) path: &'a Path,
}

impl Validator<'_> {
    fn invalid(&self, key: &str, value: impl fmt::Display, allowed: &str) -> JobError {
        JobError::InvalidValue {
            path: self.path.to_owned(),
            key: key.to_owned(),
            value: value.to_string(),
            allowed: allowed.to_owned(),
        }
    }

    /// A bad value of `key`, or of the flag or variable that overrides it (`overrides`).
    fn invalid_from(
        &self,
        key: &str,
        overrides: Option<&str>,
        value: impl fmt::Display,
        allowed: &str,
    ) -> JobError {
        match overrides {
            Some(name) => JobError::Override {
                name: name.to_owned(),
                value: value.to_string(),
                allowed: allowed.to_owned(),
            },
            None => self.invalid(key, value, allowed),
        }
    }

    fn duration(&self, key: &str, s: &str, max: Duration) -> Result<Duration> {
        let allowed = format!(
            "use a humantime duration greater than zero and at most {}, e.g. \"500ms\", \"30s\", \"2m\"",
            humantime::format_duration(max)
        );
        match humantime::parse_duration(s) {
            Ok(d) if !d.is_zero() && d <= max => Ok(d),
            _ => Err(self.invalid(key, format!("{s:?}"), &allowed)),
        }
    }

    fn int_in(&self, key: &str, v: i64, lo: i64, hi: i64) -> Result<u64> {
        self.int_in_with(
            key,
            v,
            lo,
            hi,
            &format!("use a whole number from {lo} to {hi}"),
        )
    }

    /// `v` within `lo..=hi` (`lo >= 0`), else an error saying `allowed`.
    pub(super) fn int_in_with(
        &self,
        key: &str,
        v: i64,
        lo: i64,
        hi: i64,
        allowed: &str,
    ) -> Result<u64> {
        if v < lo || v > hi {
            return Err(self.invalid(key, v, allowed));
        }
        u64::try_from(v).map_err(|_| self.invalid(key, v, allowed))
    }

    fn rate(&self, key: &str, v: f64, hi: f64) -> Result<f64> {
        if v.is_finite() && v > 0.0 && v <= hi {
            Ok(v)
        } else {
            Err(self.invalid(
                key,
                v,
                &format!("use a number greater than 0 and at most {hi}"),
            ))
        }
    }

    fn job(&self, file: JobFile, opts: &LoadOptions) -> Result<Job> {
        let name = JobName::try_new(&file.name).ok_or_else(|| {
            self.invalid(
                "name",
                format!("{:?}", file.name),
                "use 1 to 128 of lowercase letters, digits, '_' and '-'",
            )
        })?;
        let api = self.api(&file, opts)?;
        let fetch = self.fetch(&file)?;
        let output = self.output(&file, opts)?;
        let retention = self.retention(&file.retention)?;
        let accounts = self.accounts(&file)?;
        Ok(Job {
            path: self.path.to_owned(),
            name,
            api,
            fetch,
            output,
            accounts,
            retention,
        })
    }

    fn api(&self, file: &JobFile, opts: &LoadOptions) -> Result<Api> {
        let a = &file.api;
        let (raw_url, from) = match &opts.base_url_env {
            Some(u) => (
                u.as_str(),
                Some("environment variable POSTPRESS_BASE_URL (overriding api.base_url)"),
            ),
            None => (a.base_url.as_str(), None),
        };
        let bad =
            |value: String, allowed: &str| self.invalid_from("api.base_url", from, value, allowed);
        let url = reqwest::Url::parse(raw_url).map_err(|e| {
            bad(
                format!("{raw_url:?}"),
                &format!(
                    "use an absolute https:// URL such as \"https://api.postpress.ai/api/v1\" ({e})"
                ),
            )
        })?;
        match url.scheme() {
            "https" => {}
            "http" if a.allow_insecure_http || is_loopback(&url) => {}
            "http" => {
                return Err(bad(
                    format!("{raw_url:?}"),
                    "http:// sends the API key in clear; use https://, a loopback host, or set api.allow_insecure_http = true",
                ));
            }
            _ => return Err(bad(format!("{raw_url:?}"), "use an https:// URL")),
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(bad(
                format!("{raw_url:?}"),
                "use a URL without query, fragment or credentials",
            ));
        }
        let timeout = self.duration("api.timeout", &a.timeout, Duration::from_secs(3600))?;
        let api_key_source = api_key_source(opts, a.api_key_file.as_deref());
        let api_key = self.api_key(a, opts, &api_key_source)?;
        Ok(Api {
            base_url: url.as_str().trim_end_matches('/').to_owned(),
            api_key,
            api_key_source,
            timeout,
        })
    }

    /// The key from the environment or `api.api_key_file`: present, readable and sendable in a
    /// header when `opts.require_api_key` (never its value in a message).
    fn api_key(&self, a: &ApiFile, opts: &LoadOptions, source: &str) -> Result<Option<ApiKey>> {
        let api_key = match (&opts.api_key_env, &a.api_key_file) {
            (Some(k), _) => Some(ApiKey::new(k.trim().to_owned())),
            (None, Some(f)) => {
                let f = self.relative(f);
                match std::fs::read_to_string(&f) {
                    Ok(s) if !s.trim().is_empty() => Some(ApiKey::new(s.trim().to_owned())),
                    Ok(_) => {
                        return Err(JobError::ApiKeyFile {
                            path: self.path.to_owned(),
                            key_file: f,
                            reason: "the file is empty".to_owned(),
                        });
                    }
                    Err(e) if opts.require_api_key => {
                        return Err(JobError::ApiKeyFile {
                            path: self.path.to_owned(),
                            key_file: f,
                            reason: e.to_string(),
                        });
                    }
                    Err(_) => None,
                }
            }
            (None, None) => None,
        };
        if api_key.is_none() && opts.require_api_key {
            return Err(JobError::MissingApiKey {
                path: self.path.to_owned(),
            });
        }
        if let Some(k) = &api_key
            && !header_safe(k.expose())
        {
            return Err(JobError::ApiKeyNotHeaderSafe {
                source_name: source.to_owned(),
            });
        }
        Ok(api_key)
    }

    fn fetch(&self, file: &JobFile) -> Result<Fetch> {
        let f = &file.fetch;
        let concurrency = self.int_in("fetch.concurrency", f.concurrency, 1, 1024)?;
        let max_attempts = self.int_in("fetch.max_attempts", f.max_attempts, 1, 100)?;
        let max_pages = self.int_in("fetch.max_pages", f.max_pages, 1, i64::MAX)?;
        let day = Duration::from_secs(86_400);
        let backoff_initial = self.duration("fetch.backoff_initial", &f.backoff_initial, day)?;
        let backoff_max = self.duration("fetch.backoff_max", &f.backoff_max, day)?;
        if backoff_max < backoff_initial {
            return Err(self.invalid(
                "fetch.backoff_max",
                format!("{:?}", f.backoff_max),
                &format!(
                    "use a duration at least fetch.backoff_initial ({:?})",
                    f.backoff_initial
                ),
            ));
        }
        Ok(Fetch {
            concurrency: nonzero_usize(concurrency),
            requests_per_second: self.rate(
                "fetch.requests_per_second",
                f.requests_per_second,
                100_000.0,
            )?,
            account_requests_per_minute: self.rate(
                "fetch.account_requests_per_minute",
                f.account_requests_per_minute,
                6_000_000.0,
            )?,
            max_attempts: NonZeroU32::new(u32::try_from(max_attempts).unwrap_or(u32::MAX))
                .unwrap_or(NonZeroU32::MIN),
            backoff_initial,
            backoff_max,
            max_pages: NonZeroU64::new(max_pages).unwrap_or(NonZeroU64::MIN),
        })
    }

    fn output(&self, file: &JobFile, opts: &LoadOptions) -> Result<Output> {
        let o = &file.output;
        let (url, from) = match &opts.output_url {
            Some(u) => (u.clone(), Some("--output")),
            None => (o.url.clone(), None),
        };
        let bad =
            |value: String, allowed: &str| self.invalid_from("output.url", from, value, allowed);
        if url.trim().is_empty() {
            return Err(bad(
                "\"\"".to_owned(),
                "use a path, file:///abs/path or s3://bucket/prefix",
            ));
        }
        let url = if let Some(rest) = url.strip_prefix("s3://") {
            if rest.split('/').next().is_none_or(str::is_empty) {
                return Err(bad(format!("{url:?}"), "use s3://bucket/prefix"));
            }
            url
        } else if url.contains("://") && !url.starts_with("file://") {
            return Err(bad(
                format!("{url:?}"),
                "use a path, file:///abs/path or s3://bucket/prefix",
            ));
        } else if url.starts_with("file://") {
            url
        } else {
            // A relative output path is relative to the working directory, as on a command line.
            url
        };
        let compression = match o.compression.parse::<Compression>() {
            Ok(c) => c,
            Err(()) => {
                return Err(self.invalid(
                    "output.compression",
                    format!("{:?}", o.compression),
                    "use one of \"zstd\", \"snappy\", \"gzip\", \"none\"",
                ));
            }
        };
        let max_rows_per_file =
            self.int_in("output.max_rows_per_file", o.max_rows_per_file, 1, 1 << 40)?;
        let row_group_rows = self.int_in("output.row_group_rows", o.row_group_rows, 1, 1 << 30)?;
        let checkpoint_rows =
            self.int_in("output.checkpoint_rows", o.checkpoint_rows, 1, 1 << 40)?;
        Ok(Output {
            url,
            compression,
            max_rows_per_file: nonzero_usize(max_rows_per_file),
            row_group_rows: nonzero_usize(row_group_rows),
            checkpoint_rows: NonZeroU64::new(checkpoint_rows).unwrap_or(NonZeroU64::MIN),
            tables: o.tables,
            exclusive_leases: o.exclusive_leases,
        })
    }

    pub(super) fn relative(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        }
    }
}

fn nonzero_usize(v: u64) -> NonZeroUsize {
    NonZeroUsize::new(usize::try_from(v).unwrap_or(usize::MAX)).unwrap_or(NonZeroUsize::MIN)
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl Validator<'_> {
    pub(super) fn retention(
        &self,
        r: &super::retention::RetentionFile,
    ) -> Result<super::retention::Retention> {
        let days = |key: &str, v: i64| -> Result<Option<NonZeroU32>> {
            let v = self.int_in_with(
                key,
                v,
                0,
                super::retention::MAX_RETENTION_DAYS,
                "use a whole number of days from 0 (keep forever) to 36500",
            )?;
            Ok(u32::try_from(v).ok().and_then(NonZeroU32::new))
        };
        Ok(super::retention::Retention {
            units_days: days("retention.units_days", r.units_days)?,
            snapshots_days: days("retention.snapshots_days", r.snapshots_days)?,
            changes_days: days("retention.changes_days", r.changes_days)?,
        })
    }
}
