//! `erase` (SPEC §12) through the real binary, on a local disk: people who are in many lists,
//! days, units, tables and a staged part are removed from all of them and nothing else changes;
//! later runs and finalizes keep them out; erasing again and `--dry-run` change nothing; a
//! SIGKILL midway leaves whole files and a rerun finishes.

use crate::lifecycle_util::*;
use crate::tables_check::{export, set_day};
use crate::util::*;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every file below `out` and its bytes.
fn snapshot(out: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files_below(out)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read");
            (p.strip_prefix(out).expect("below out").to_owned(), bytes)
        })
        .collect()
}

fn erase(job: &Path, keys_file: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "erase",
        job.to_str().expect("utf-8"),
        "--keys-file",
        keys_file.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    etl(&args, &[("POSTPRESS_API_KEY", "")])
}

/// No key in any file name, nor in any text file of the output (manifests, records, lists),
/// nor in `logs`.
fn assert_keys_nowhere(out: &Path, keys: &[String], logs: &[&str]) {
    for (path, bytes) in snapshot(out) {
        let name = path.display().to_string();
        for k in keys {
            assert!(!name.contains(k.as_str()), "a key in the file name {name}");
            if !name.ends_with(".parquet") {
                let text = String::from_utf8_lossy(&bytes);
                assert!(!text.contains(k.as_str()), "a key in {name}");
            }
        }
    }
    for log in logs {
        for k in keys {
            assert!(!log.contains(k.as_str()), "a key in the logs");
        }
    }
}

/// A staging area holding a copy of a published unit, as a crashed run leaves it.
fn stage_a_copy(out: &Path, from: &str) -> PathBuf {
    let src = out.join(from);
    let dir = out
        .join("_staging/20261101T000000Z-dead")
        .join(Path::new(from).parent().expect("a partition"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(&src, dir.join("part-00000.parquet")).expect("copy");
    std::fs::write(dir.join("checkpoint.json"), "{}").expect("checkpoint");
    dir
}

/// Two people who follow and are followed everywhere, and one who left a list (so the changes
/// tables hold them), over three days with their tables and a staged part: after `erase` no
/// Parquet file of the output holds a row of theirs; every other row is unchanged, in order;
/// files that held none are byte-identical, rewritten ones keep their footer metadata, codecs
/// and row groups; the staged unit is gone with its checkpoint; the record and the suppressed
/// list hold hashes only. Erasing again rewrites nothing; `--dry-run` leaves the tree
/// byte-identical. The next day's run and finalize keep the people out while they still follow.
#[test]
fn erase_removes_people_everywhere_and_keeps_them_out() {
    let t = TestDir::new();
    let sim = shared_sim();
    let job = shared_job(&t, &sim, "");
    let out = t.out();
    export_days(&sim, &job, &out, 0..=2);
    let mut keys = everywhere(0..=3);
    let before = all_rows(&out);
    // Someone lost by a list on day 1: in a changes table.
    let lost = before
        .iter()
        .filter(|(f, _)| f.starts_with("tables/follower_changes/provider=linkedin"))
        .flat_map(|(_, r)| r)
        .find(|r| r["change"] == "lost")
        .and_then(|r| r["id"].as_str())
        .expect("a lost follower")
        .to_owned();
    keys.push(lost);
    let staged = stage_a_copy(
        &out,
        &format!(
            "followers/provider=linkedin/snapshot_date={}/account_id=acc_linkedin_0000/part-00000.parquet",
            day_date(2)
        ),
    );
    let before = all_rows(&out);
    let holding = rows_holding(&before, &keys);
    for place in [
        "followers/",
        "following/",
        "tables/followers/",
        "tables/following/",
        "tables/follower_changes/",
        "_staging/",
    ] {
        assert!(
            holding.keys().any(|f| f.starts_with(place)),
            "the people are in {place}: {holding:?}"
        );
    }
    assert!(holding.len() >= 20, "{} files hold them", holding.len());
    let bytes_before = snapshot(&out);

    let keys_file = t.write(
        "keys.txt",
        &format!(
            "# erase request 42\n{}\r\n\n  {}\n{}\n",
            keys[0], keys[1], keys[2]
        ),
    );
    let dry = erase(&job, &keys_file, &["--dry-run"]);
    dry.expect_code(0, &out);
    assert_eq!(snapshot(&out), bytes_before, "--dry-run changed the tree");
    assert!(dry.stdout.contains("would change"), "{}", dry.stdout);

    let o = erase(&job, &keys_file, &[]);
    o.expect_code(0, &out);
    let after = all_rows(&out);
    let expected = without(&before, &keys);
    for (file, rows) in &expected {
        if file.starts_with("_staging/") {
            continue;
        }
        assert_eq!(after.get(file), Some(rows), "{file}");
    }
    assert!(
        !staged.exists(),
        "the staged unit holding them is discarded"
    );
    assert!(rows_holding(&after, &keys).is_empty());
    let bytes_after = snapshot(&out);
    for (path, bytes) in &bytes_before {
        let name = path.display().to_string();
        if name.starts_with("_staging/") {
            continue;
        }
        let now = bytes_after.get(path).expect("no file lost");
        if !holding.contains_key(&name) {
            assert!(now == bytes, "{name} held none of them but changed");
        } else {
            assert_ne!(now, bytes, "{name}");
            let (old, new) = (footer(&out.join(path)), footer_of(bytes));
            assert_eq!(old, new, "{name}: footer metadata");
            assert_eq!(layout_of(&out.join(path)), layout_of_bytes(bytes), "{name}");
        }
    }
    let record = files_below(&out.join("_lifecycle"))
        .into_iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("erase-"))
        })
        .expect("an erase record");
    let record: Value =
        serde_json::from_slice(&std::fs::read(record).expect("read")).expect("JSON");
    let hashes: Vec<String> = keys
        .iter()
        .map(|k| postpress_etl::lifecycle::KeyHash::of(k).to_string())
        .collect();
    let mut want = hashes.clone();
    want.sort();
    assert_eq!(record["key_hashes"], serde_json::json!(want));
    let removed: u64 = holding.values().map(|n| *n as u64).sum();
    assert_eq!(record["rows_removed"], removed);
    // Every date was finalized: the tables decided for the units of accounts without them,
    // which were not read (the people follow most accounts here, so most units are read).
    let decided = record["files_decided_by_tables"].as_u64().expect("decided");
    assert!(decided > 0, "{record}");
    for f in record["files"].as_array().expect("files") {
        if f["action"] == "rewritten" {
            assert!(
                f["e_tag_before"].is_string() && f["e_tag"].is_string(),
                "{f}"
            );
            assert_ne!(f["e_tag_before"], f["e_tag"], "{f}");
        }
    }
    assert_keys_nowhere(
        &out,
        &keys,
        &[&o.stdout, &o.stderr, &dry.stdout, &dry.stderr],
    );

    // Again: nothing to rewrite.
    let snap = snapshot(&out);
    let again = erase(&job, &keys_file, &[]);
    again.expect_code(0, &out);
    assert!(
        again.stdout.contains("changed 0 file(s), 0 rows"),
        "{}",
        again.stdout
    );
    // The keys were suppressed before: every file is read for them, none decided by a table.
    assert!(
        again.stdout.contains("passed 0 on the reader tables"),
        "{}",
        again.stdout
    );
    let snap_again = snapshot(&out);
    let changed: Vec<_> = snap_again
        .iter()
        .filter(|(p, b)| snap.get(*p) != Some(b))
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert!(
        changed
            .iter()
            .all(|p| p.starts_with("_lifecycle/erase-") || p.starts_with("_lifecycle/lease.json")),
        "only a new record and the lifecycle lease: {changed:?}"
    );

    // Someone else, later: the units the first erase rewrote are still decided by the tables
    // (its record leads from the versions finalize read to theirs), so only units holding the
    // new key are read.
    let rows = all_rows(&out);
    let other = rows
        .iter()
        .filter(|(f, _)| f.starts_with("followers/"))
        .flat_map(|(_, r)| r)
        .filter_map(|r| r["id"].as_str())
        .find(|k| !keys.iter().any(|e| e == k))
        .expect("someone else")
        .to_owned();
    let units = rows
        .keys()
        .filter(|f| f.starts_with("followers/") || f.starts_with("following/"))
        .count() as u64;
    let holding_other = rows_holding(&rows, std::slice::from_ref(&other))
        .keys()
        .filter(|f| f.starts_with("followers/") || f.starts_with("following/"))
        .count() as u64;
    let other_file = t.write("other.txt", &format!("{other}\n"));
    let third = erase(&job, &other_file, &[]);
    third.expect_code(0, &out);
    assert!(
        third.stdout.contains(&format!(
            "passed {} on the reader tables",
            units - holding_other
        )),
        "{units} units, {holding_other} hold the key: {}",
        third.stdout
    );
    assert!(rows_holding(&all_rows(&out), std::slice::from_ref(&other)).is_empty());
    keys.push(other);

    // The next day, while they still follow: nothing of them is staged or published, and the
    // changes do not report them as lost.
    set_day(&sim, 3);
    let run = export(&job, 3, &[]);
    run.expect_code(0, &out);
    let rows = all_rows(&out);
    assert!(rows_holding(&rows, &keys).is_empty());
    let m = manifests(&out).pop().expect("manifest");
    assert!(
        m["totals"]["suppressed"].as_u64().expect("suppressed") >= 8,
        "{m}"
    );
    assert_keys_nowhere(&out, &keys, &[&run.stderr]);
}

/// The reader tables decide only for unit files that are still what their finalize read: a
/// unit replaced after its date was finalized, now holding someone the table does not list for
/// its account, is read and rewritten; so is one the index cannot follow. Units the tables
/// decide for lose the same rows as when every file is read.
#[test]
fn units_changed_since_their_finalize_are_read_not_trusted() {
    let t = TestDir::new();
    let sim = shared_sim();
    let job = shared_job(&t, &sim, "");
    let out = t.out();
    export_days(&sim, &job, &out, 0..=1);
    let unit = |account: &str| {
        format!(
            "followers/provider=linkedin/snapshot_date={}/account_id={account}/part-00000.parquet",
            day_date(1)
        )
    };
    let (a, b) = (unit("acc_linkedin_0000"), unit("acc_linkedin_0002"));
    let before = all_rows(&out);
    let ids = |f: &str| -> Vec<String> {
        before[f]
            .iter()
            .filter_map(|r| r["id"].as_str().map(str::to_owned))
            .collect()
    };
    // Someone in b's list and not in a's: after a's file is replaced by b's, the table still
    // says a's list lacks them.
    let key = ids(&b)
        .into_iter()
        .find(|k| !ids(&a).contains(k))
        .expect("lists differ");
    let tmp = out.join("replacement.tmp");
    std::fs::copy(out.join(&b), &tmp).expect("copy");
    std::fs::rename(&tmp, out.join(&a)).expect("replace");
    let before = all_rows(&out);
    assert!(rows_holding(&before, std::slice::from_ref(&key)).contains_key(&a));

    let keys_file = t.write("keys.txt", &format!("{key}\n"));
    let o = erase(&job, &keys_file, &[]);
    o.expect_code(0, &out);
    let after = all_rows(&out);
    assert!(
        rows_holding(&after, std::slice::from_ref(&key)).is_empty(),
        "{:?}",
        rows_holding(&after, std::slice::from_ref(&key))
    );
    let expected = without(&before, std::slice::from_ref(&key));
    assert_eq!(after, expected);
    assert!(o.stdout.contains("passed "), "{}", o.stdout);
    assert!(
        !o.stdout.contains("passed 0 on"),
        "the tables decided for others: {}",
        o.stdout
    );
    assert_keys_nowhere(&out, std::slice::from_ref(&key), &[&o.stdout, &o.stderr]);
}

/// Footer key-value metadata of a file on disk, `ARROW:schema` aside.
fn footer_of(bytes: &[u8]) -> Map<String, Value> {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("f.parquet");
    std::fs::write(&p, bytes).expect("write");
    footer(&p)
}

/// Codec per column, row group count and whether each column has a dictionary.
fn layout_of(path: &Path) -> Vec<String> {
    layout_of_bytes(&std::fs::read(path).expect("read"))
}

fn layout_of_bytes(bytes: &[u8]) -> Vec<String> {
    let meta = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&bytes::Bytes::copy_from_slice(bytes))
        .expect("footer");
    let mut out = vec![format!("row groups {}", meta.num_row_groups())];
    if let Some(rg) = meta.row_groups().first() {
        for c in rg.columns() {
            out.push(format!(
                "{} {:?} dict={}",
                c.column_path(),
                c.compression(),
                c.dictionary_page_offset().is_some()
            ));
        }
    }
    out.push(format!(
        "created_by {:?}",
        meta.file_metadata().created_by()
    ));
    out
}

/// The inode of a file: a replaced file gets a new one.
fn inode(p: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).map(|m| m.ino()).ok()
}

/// SIGKILL during an erase of many files, once its first file was replaced (the suppressed
/// list is there already), then the same erase again: every file stays
/// readable Parquet, no row is duplicated or lost besides the erased ones, and the keys are in
/// no log line, record or file name.
#[test]
fn erase_killed_midway_is_finished_by_a_rerun() {
    let t = TestDir::new();
    let sim = shared_sim();
    let job = shared_job(&t, &sim, "");
    let out = t.out();
    export_days(&sim, &job, &out, 0..=5);
    let keys = everywhere(0..=5);
    let before = all_rows(&out);
    let holding = rows_holding(&before, &keys);
    assert!(holding.len() >= 40, "{} files hold them", holding.len());
    let keys_file = t.write("keys.txt", &format!("{}\n{}\n", keys[0], keys[1]));
    let watched: Vec<(PathBuf, Option<u64>)> = holding
        .keys()
        .map(|f| {
            let p = out.join(f);
            let ino = inode(&p);
            (p, ino)
        })
        .collect();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_postpress-etl"))
        .args(["erase", job.to_str().expect("utf-8"), "--keys-file"])
        .arg(&keys_file)
        .env_remove("POSTPRESS_API_KEY")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn erase");
    // Kill as soon as the first file holding them has been replaced (a new inode).
    assert!(wait_until(std::time::Duration::from_secs(60), || {
        watched.iter().any(|(p, ino)| inode(p) != *ino)
    }));
    child.kill().expect("SIGKILL");
    let killed = child.wait_with_output().expect("wait");
    // The suppressed list was written before any data file.
    let lists = files_below(&out.join("_lifecycle/suppressed"));
    assert!(
        lists
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "txt"))
    );
    let half = all_rows(&out); // every file reads as whole Parquet
    let expected = without(&before, &keys);
    let rewritten = half
        .iter()
        .filter(|(f, r)| Some(*r) == expected.get(*f) && before[*f] != **r)
        .count();
    assert!(rewritten >= 1, "killed once rewrites had begun");
    eprintln!(
        "erase killed with {rewritten} of {} files rewritten ({:?})",
        holding.len(),
        killed.status
    );
    for (file, rows) in &half {
        let original = &before[file];
        assert!(
            rows == original || Some(rows) == expected.get(file),
            "{file} is neither the old file nor the new one"
        );
    }
    let o = erase(&job, &keys_file, &[]);
    o.expect_code(0, &out);
    assert_eq!(
        all_rows(&out),
        expected,
        "rerun finished: every other row exactly once"
    );
    let logs = [
        String::from_utf8_lossy(&killed.stdout).into_owned(),
        String::from_utf8_lossy(&killed.stderr).into_owned(),
    ];
    assert_keys_nowhere(&out, &keys, &[&logs[0], &logs[1], &o.stdout, &o.stderr]);
}

/// Refused keys or flags exit 2 and change nothing: an empty keys file, an empty or overlong
/// key, both sources, a bad --wait; the message never quotes a key.
#[test]
fn refused_keys_change_nothing() {
    let t = TestDir::new();
    let sim = shared_sim();
    let job = shared_job(&t, &sim, "");
    let out = t.out();
    export_days(&sim, &job, &out, 0..=0);
    let before = snapshot(&out);
    let j = job.to_str().expect("utf-8");
    let empty = t.write("empty.txt", "# nobody\n\n");
    let e = empty.to_str().expect("utf-8");
    let long = "k".repeat(300);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--keys-file", e], "holds no key"),
        (vec!["--key", ""], "--key number 1 is empty"),
        (
            vec!["--key", "ok", "--key", &long],
            "--key number 2 is 300 bytes long",
        ),
        (vec!["--key", "secret-person", "--keys-file", e], "not both"),
        (
            vec!["--keys-file", "/nonexistent/keys.txt"],
            "cannot be read",
        ),
        (
            vec!["--key", "secret-person", "--wait", "forever"],
            "--wait \"forever\"",
        ),
        (vec![], "not both"),
    ];
    for (extra, want) in cases {
        let mut args = vec!["erase", j];
        args.extend_from_slice(&extra);
        let o = etl(&args, &[]);
        assert_eq!(o.code, Some(2), "{extra:?}: {}", o.stderr);
        assert!(o.stderr.contains(want), "{extra:?}: {}", o.stderr);
        assert!(!o.stderr.contains("secret-person") && !o.stderr.contains(&long));
        assert_eq!(snapshot(&out), before, "{extra:?} changed the output");
    }
}
