//! Job validation: defaults, overrides, and the exact text of every rule's message.

use super::{Job, LoadOptions};
use crate::model::Compression;
use crate::model::{Dataset, Provider};
use std::path::Path;
use std::time::Duration;

const MIN: &str =
    "name = \"daily\"\n[[accounts]]\naccount_id = \"acc_1\"\nprovider = \"linkedin\"\n";

fn opts() -> LoadOptions {
    LoadOptions {
        api_key_env: Some("k".into()),
        require_api_key: true,
        ..LoadOptions::default()
    }
}

fn load(text: &str) -> Result<Job, String> {
    Job::from_toml(Path::new("job.toml"), text, &opts()).map_err(|e| e.to_string())
}

fn err(text: &str) -> String {
    load(text).expect_err("invalid")
}

/// A minimal job gets every SPEC §2 default.
#[test]
fn defaults() {
    let j = load(MIN).expect("valid");
    assert_eq!(j.api.base_url, "https://api.postpress.ai/api/v1");
    assert_eq!(j.api.timeout, Duration::from_secs(30));
    assert_eq!(j.fetch.concurrency.get(), 8);
    assert_eq!(j.fetch.requests_per_second, 5.0);
    assert_eq!(j.fetch.account_requests_per_minute, 30.0);
    assert_eq!(j.fetch.max_attempts.get(), 8);
    assert_eq!(j.fetch.backoff_initial, Duration::from_secs(1));
    assert_eq!(j.fetch.backoff_max, Duration::from_secs(120));
    assert_eq!(j.fetch.max_pages.get(), 100_000);
    assert_eq!(j.output.url, "./out");
    assert_eq!(j.output.compression, Compression::Zstd);
    assert_eq!(j.output.max_rows_per_file.get(), 1_000_000);
    assert_eq!(j.output.row_group_rows.get(), 131_072);
    assert_eq!(j.output.checkpoint_rows.get(), 100_000);
    assert!(j.output.tables);
    let a = &j.accounts[0];
    assert_eq!(a.datasets, vec![Dataset::Followers, Dataset::Following]);
    assert_eq!(a.page_size(Dataset::Followers), 100);
    assert_eq!(a.page_size(Dataset::Following), 1000);
    assert_eq!(format!("{:?}", j.api.api_key), "Some(**REDACTED**)");
}

/// Page size defaults to each provider's maximum; Instagram followers allow 200.
#[test]
fn page_sizes_per_provider() {
    let j = load("name = \"x\"\n[[accounts]]\naccount_id = \"a\"\nprovider = \"instagram\"\n")
        .expect("valid");
    assert_eq!(j.accounts[0].provider, Provider::Instagram);
    assert_eq!(j.accounts[0].page_size(Dataset::Followers), 200);
    let j = load("name = \"x\"\n[[accounts]]\naccount_id = \"a\"\nprovider = \"instagram\"\ndatasets = [\"following\"]\npage_size = 1000\n").expect("valid");
    assert_eq!(j.accounts[0].page_size(Dataset::Following), 1000);
}

/// The environment and flags override the file; the key file is read when the env is unset.
#[test]
fn overrides_and_key_file() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("key"), "pp_live_x\n").expect("write");
    let text =
        format!("{MIN}[api]\napi_key_file = \"key\"\nbase_url = \"https://a.example/api/v1/\"\n");
    let path = dir.path().join("job.toml");
    let o = LoadOptions {
        require_api_key: true,
        output_url: Some("s3://b/p".into()),
        ..LoadOptions::default()
    };
    let j = Job::from_toml(&path, &text, &o).expect("valid");
    assert_eq!(
        j.api.api_key.as_ref().map(|k| k.expose().to_owned()),
        Some("pp_live_x".to_owned())
    );
    assert_eq!(j.api.base_url, "https://a.example/api/v1");
    assert_eq!(j.output.url, "s3://b/p");
    let o = LoadOptions {
        base_url_env: Some("http://127.0.0.1:9/api/v1".into()),
        ..o
    };
    assert_eq!(
        Job::from_toml(&path, &text, &o)
            .expect("valid")
            .api
            .base_url,
        "http://127.0.0.1:9/api/v1"
    );
}

/// Every rule's message, exactly.
#[test]
fn messages() {
    for (extra, want) in MESSAGE_CASES {
        // Tables after the minimal job; `name` replaces the minimal one.
        let text = if extra.starts_with("name") {
            MIN.replace("name = \"daily\"\n", extra)
        } else {
            format!("{MIN}{extra}")
        };
        assert_eq!(err(&text), *want, "for {extra:?}");
    }
}

/// Job-file snippets (added to a minimal job) and the exact message each must give.
const MESSAGE_CASES: &[(&str, &str)] = &[
    (
        "name = \"Daily Job\"\n",
        "job file job.toml: name = \"Daily Job\" is not allowed; use 1 to 128 of lowercase letters, digits, '_' and '-'",
    ),
    (
        "[fetch]\nconcurrency = 0\n",
        "job file job.toml: fetch.concurrency = 0 is not allowed; use a whole number from 1 to 1024",
    ),
    (
        "[fetch]\nrequests_per_second = -1.0\n",
        "job file job.toml: fetch.requests_per_second = -1 is not allowed; use a number greater than 0 and at most 100000",
    ),
    (
        "[fetch]\nbackoff_initial = \"5s\"\nbackoff_max = \"1s\"\n",
        "job file job.toml: fetch.backoff_max = \"1s\" is not allowed; use a duration at least fetch.backoff_initial (\"5s\")",
    ),
    (
        "[fetch]\nmax_attempts = 0\n",
        "job file job.toml: fetch.max_attempts = 0 is not allowed; use a whole number from 1 to 100",
    ),
    (
        "[api]\ntimeout = \"0s\"\n",
        "job file job.toml: api.timeout = \"0s\" is not allowed; use a humantime duration greater than zero and at most 1h, e.g. \"500ms\", \"30s\", \"2m\"",
    ),
    (
        "[api]\nbase_url = \"ftp://x/api\"\n",
        "job file job.toml: api.base_url = \"ftp://x/api\" is not allowed; use an https:// URL",
    ),
    (
        "[api]\nbase_url = \"http://api.example.com/api/v1\"\n",
        "job file job.toml: api.base_url = \"http://api.example.com/api/v1\" is not allowed; http:// sends the API key in clear; use https://, a loopback host, or set api.allow_insecure_http = true",
    ),
    (
        "[output]\nurl = \"gs://bucket\"\n",
        "job file job.toml: output.url = \"gs://bucket\" is not allowed; use a path, file:///abs/path or s3://bucket/prefix",
    ),
    (
        "[output]\nrow_group_rows = 0\n",
        "job file job.toml: output.row_group_rows = 0 is not allowed; use a whole number from 1 to 1073741824",
    ),
    (
        "[output]\ncheckpoint_rows = 0\n",
        "job file job.toml: output.checkpoint_rows = 0 is not allowed; use a whole number from 1 to 1099511627776",
    ),
    (
        "[[accounts]]\naccount_id = \"-x\"\nprovider = \"linkedin\"\n",
        "job file job.toml: accounts[1].account_id = \"-x\" is not allowed; use [A-Za-z0-9][A-Za-z0-9_.-]* (at most 256 bytes) without \"..\"",
    ),
    (
        "[[accounts]]\naccount_id = \"b\"\nprovider = \"linkedin\"\ndatasets = [\"posts\"]\n",
        "job file job.toml: accounts[1].datasets = \"posts\" is not allowed; use \"followers\" and/or \"following\"",
    ),
    (
        "[[accounts]]\naccount_id = \"b\"\nprovider = \"linkedin\"\ndatasets = []\n",
        "job file job.toml: accounts[1].datasets = [] is not allowed; name at least one of \"followers\", \"following\" (or leave the key out for both)",
    ),
    (
        "[[accounts]]\naccount_id = \"b\"\nprovider = \"instagram\"\ndatasets = [\"followers\"]\npage_size = 201\n",
        "job file job.toml: accounts[1].page_size = 201 is not allowed; use 1 to 200 (instagram followers allows at most 200)",
    ),
    (
        "[[accounts]]\naccount_id = \"acc_1\"\nprovider = \"instagram\"\n",
        "job file job.toml: account_id \"acc_1\" is listed twice (accounts[0] and accounts[1]); list each account once, with datasets = [\"followers\", \"following\"] for both lists",
    ),
];

/// A misspelt key, a job with no accounts, and a missing key, exactly.
#[test]
fn whole_file_messages() {
    assert!(
        err(&format!("{MIN}[fetch]\nconcurency = 3\n"))
            .starts_with("job file job.toml is not valid: TOML parse error at line 6, column 1")
    );
    assert_eq!(
        err("name = \"x\"\n"),
        "job file job.toml: no accounts; add [[accounts]] tables or accounts_file = \"accounts.csv\""
    );
    let e = Job::from_toml(
        Path::new("job.toml"),
        MIN,
        &LoadOptions {
            require_api_key: true,
            ..LoadOptions::default()
        },
    )
    .expect_err("no key")
    .to_string();
    assert_eq!(
        e,
        "job file job.toml: no API key; set the environment variable POSTPRESS_API_KEY or api.api_key_file (the key is never read from the job file or a flag)"
    );
}

/// `[api]`, `[fetch]` and `[output]` reject unknown keys; so does `[[accounts]]`.
#[test]
fn every_table_rejects_unknown_keys() {
    for table in [
        "[api]\nretries = 1\n",
        "[fetch]\nretries = 1\n",
        "[output]\nformat = \"csv\"\n",
    ] {
        assert!(
            err(&format!("{MIN}{table}")).contains("unknown field"),
            "{table}"
        );
    }
    assert!(
        err(&MIN.replace(
            "provider = \"linkedin\"",
            "provider = \"linkedin\"\nlimit = 5"
        ))
        .contains("unknown field `limit`")
    );
    assert!(err(&format!("api_key = \"x\"\n{MIN}")).contains("unknown field `api_key`"));
}

/// Issue 12: a value from a flag or the environment names its source, not the job file; the
/// accounts CSV is the accounts file with line and column; TOML errors keep their snippet.
#[test]
fn messages_name_their_source() {
    let with = |o: LoadOptions| {
        Job::from_toml(Path::new("job.toml"), MIN, &o)
            .expect_err("invalid")
            .to_string()
    };
    assert_eq!(
        with(LoadOptions {
            output_url: Some("ftp://x/y".into()),
            ..opts()
        }),
        "--output \"ftp://x/y\" is not allowed; use a path, file:///abs/path or s3://bucket/prefix"
    );
    assert_eq!(
        with(LoadOptions {
            base_url_env: Some("http://api.example.com/v1".into()),
            ..opts()
        }),
        "environment variable POSTPRESS_BASE_URL (overriding api.base_url) \"http://api.example.com/v1\" is not allowed; http:// sends the API key in clear; use https://, a loopback host, or set api.allow_insecure_http = true"
    );
    assert_eq!(
        with(LoadOptions {
            api_key_env: Some("pp_a\u{7f}b".into()),
            ..opts()
        }),
        "the API key from environment variable POSTPRESS_API_KEY cannot be sent: it holds a line break or another control character; put the key alone on one line"
    );

    let dir = tempfile::tempdir().expect("tmp");
    let csv = dir.path().join("accts.csv");
    let path = dir.path().join("job.toml");
    let load_csv = |rows: &str, extra: &str| {
        std::fs::write(&csv, format!("account_id,provider,page_size\n{rows}")).expect("write");
        let text = format!("name = \"csv\"\naccounts_file = \"accts.csv\"\n{extra}");
        Job::from_toml(&path, &text, &opts())
            .expect_err("invalid")
            .to_string()
    };
    let shown = csv.display();
    assert_eq!(
        load_csv("acc_a,linkedin,\nacc_b,linkedin,abc\n", ""),
        format!(
            "accounts file {shown}, line 3, column page_size: \"abc\" is not allowed; use a whole number"
        )
    );
    assert_eq!(
        load_csv("acc_a,linkedin,500\n", ""),
        format!(
            "accounts file {shown}, line 2, column page_size: 500 is not allowed; use 1 to 100 (linkedin followers allows at most 100, linkedin following allows at most 1000)"
        )
    );
    assert_eq!(
        load_csv(
            "acc_1,linkedin,\n",
            "[[accounts]]\naccount_id = \"acc_1\"\nprovider = \"linkedin\"\n"
        ),
        format!(
            "job file {}: account_id \"acc_1\" is listed twice (accounts[0] and accounts file {shown}, line 2); list each account once, with datasets = [\"followers\", \"following\"] for both lists",
            path.display()
        )
    );
    let e = err(&format!("{MIN}[fetch]\nconcurency = 3\n"));
    assert_eq!(
        e.lines().take(4).collect::<Vec<_>>(),
        [
            "job file job.toml is not valid: TOML parse error at line 6, column 1",
            "  |",
            "6 | concurency = 3",
            "  | ^^^^^^^^^^",
        ],
        "{e}"
    );
}

/// `output.tables` switches the automatic reader tables off; it must be a boolean.
#[test]
fn output_tables_is_a_boolean() {
    let j = load(&format!("{MIN}[output]\ntables = false\n")).expect("valid");
    assert!(!j.output.tables);
    let e = err(&format!("{MIN}[output]\ntables = \"no\"\n"));
    assert!(
        e.starts_with("job file job.toml is not valid: ") && e.contains("tables"),
        "{e}"
    );
}

/// `[retention]`: missing keys and 0 keep forever; days are whole numbers up to 36500; a bad
/// value names the key and what is allowed; unknown keys are refused.
#[test]
fn retention_limits() {
    let j = load(MIN).expect("valid");
    assert!(j.retention.is_forever());
    assert_eq!(
        j.retention.to_string(),
        "units forever, snapshots forever, changes forever"
    );
    let j = load(&format!(
        "{MIN}[retention]\nunits_days = 14\nsnapshots_days = 90\nchanges_days = 0\n"
    ))
    .expect("valid");
    assert_eq!(j.retention.units_days.map(|d| d.get()), Some(14));
    assert_eq!(j.retention.snapshots_days.map(|d| d.get()), Some(90));
    assert_eq!(j.retention.changes_days, None);
    assert_eq!(
        j.retention.to_string(),
        "units 14 days, snapshots 90 days, changes forever"
    );
    for (key, value) in [("units_days", "-1"), ("changes_days", "36501")] {
        assert_eq!(
            err(&format!("{MIN}[retention]\n{key} = {value}\n")),
            format!(
                "job file job.toml: retention.{key} = {value} is not allowed; use a whole number of days from 0 (keep forever) to 36500"
            )
        );
    }
    let e = err(&format!("{MIN}[retention]\nsnapshots_days = \"90d\"\n"));
    assert!(
        e.contains("snapshots_days") && e.contains("expected i64"),
        "{e}"
    );
    let e = err(&format!("{MIN}[retention]\ndays = 3\n"));
    assert!(e.contains("unknown field `days`"), "{e}");
}

/// `output.exclusive_leases` defaults to true (leases by conditional writes); false opts out,
/// for stores that cannot write conditionally; anything but a boolean is refused, naming it.
#[test]
fn output_exclusive_leases_is_a_boolean_defaulting_to_true() {
    assert!(load(MIN).expect("valid").output.exclusive_leases);
    let j = load(&format!("{MIN}[output]\nexclusive_leases = false\n")).expect("valid");
    assert!(!j.output.exclusive_leases);
    let e = err(&format!("{MIN}[output]\nexclusive_leases = \"no\"\n"));
    assert!(
        e.starts_with("job file job.toml is not valid: ") && e.contains("exclusive_leases"),
        "{e}"
    );
}
