//! Destinations refused by the preflight before any API request: each exits 1 with a message
//! naming the bucket and the cause, and prints no secret.

use super::moto::{Moto, free_port};
use super::{
    KEY_ID, aws_env, create_bucket, keys, part_key, raw_request, s3_endpoint, s3_store_with,
    sim_requests, unique_bucket,
};
use crate::util::*;
use std::time::{Duration, Instant};

/// A bucket that does not exist: exit 1 before any API request (the simulator saw none), a
/// message naming the bucket and the cause, no secret printed, nothing created.
#[test]
fn s3_missing_bucket_fails_before_any_request() {
    let Some(ep) = s3_endpoint("s3_missing_bucket_fails_before_any_request") else {
        return;
    };
    let bucket = unique_bucket("missing");
    let t = TestDir::new();
    let sim = Sim::start(&["--accounts", "2"]);
    let job = t.job_with(
        &sim,
        "",
        &format!("url = \"s3://{bucket}/pp\""),
        &accounts_toml(&[("acc_linkedin_0000", "linkedin")]),
    );
    let secret = "pp-secret-Zq81vLx0aB3kR7";
    let o = run_job_env(&job, &[], &aws_env(&ep, "AKIAPPTESTMISSING01", secret));
    o.expect_code(1, &t.out());
    assert_eq!(
        sim_requests(&sim),
        0,
        "no API request before the destination check"
    );
    let want = format!("bucket \"{bucket}\" does not exist (NoSuchBucket)");
    assert!(o.stderr.contains(&want), "{}", o.stderr);
    assert!(
        o.stderr.contains("checked before any API request"),
        "{}",
        o.stderr
    );
    assert!(
        !o.stderr.contains(secret) && !o.stdout.contains(secret),
        "secret printed"
    );
    assert!(
        o.stdout.is_empty(),
        "no summary for a run that never started: {}",
        o.stdout
    );
    let (status, _) = raw_request(&ep, "HEAD", &format!("/{bucket}"), "s3", "");
    assert_eq!(status, 404, "the bucket was not created");
}

/// An endpoint nothing listens on (no network): exit 1 before any API request, within the
/// retry budget, naming the bucket, the endpoint and the refused connection.
#[test]
fn s3_unreachable_endpoint_fails_before_any_request() {
    let Some(_) = s3_endpoint("s3_unreachable_endpoint_fails_before_any_request") else {
        return;
    };
    let t = TestDir::new();
    let sim = Sim::start(&["--accounts", "1"]);
    let job = t.job_with(
        &sim,
        "",
        "url = \"s3://pp-nowhere/pp\"",
        &accounts_toml(&[("acc_linkedin_0000", "linkedin")]),
    );
    let dead = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let o = run_job_env(
        &job,
        &[],
        &aws_env(&dead, KEY_ID, "pp-secret-unreachable-9Hq"),
    );
    o.expect_code(1, &t.out());
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "gave up within the retry budget"
    );
    assert_eq!(sim_requests(&sim), 0);
    let want = format!("the S3 endpoint {dead} of bucket \"pp-nowhere\" cannot be reached");
    assert!(o.stderr.contains(&want), "{}", o.stderr);
    assert!(
        o.stderr.contains("Connection refused"),
        "the root cause is shown: {}",
        o.stderr
    );
    assert!(!o.stderr.contains("pp-secret-unreachable-9Hq"));
}

/// Wrong credentials. The shared server does not check signatures, so this starts a private moto
/// with `INITIAL_NO_AUTH_ACTION_COUNT`: after the setup requests (an IAM user with an S3 policy
/// and its access key, a bucket) it verifies every signature as AWS does. The right key exports
/// (so the check is real), a wrong secret (SignatureDoesNotMatch) and an unknown key id
/// (InvalidAccessKeyId) exit 1 before any API request, naming the bucket and the cause, and
/// print no secret.
#[test]
fn s3_bad_credentials_fail_before_any_request() {
    let Some(_) = s3_endpoint("s3_bad_credentials_fail_before_any_request") else {
        return;
    };
    // CreateUser, PutUserPolicy, CreateAccessKey, CreateBucket go through unchecked.
    let moto = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "4")]);
    let ep = moto.endpoint.as_str();
    let iam = |body: &str| {
        let (status, resp) = raw_request(ep, "POST", "/", "iam", body);
        assert_eq!(status, 200, "IAM {body}: {resp}");
        resp
    };
    iam("Action=CreateUser&UserName=etl&Version=2010-05-08");
    let policy = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3A%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
    iam(&format!(
        "Action=PutUserPolicy&UserName=etl&PolicyName=s3&PolicyDocument={policy}&Version=2010-05-08"
    ));
    let created = iam("Action=CreateAccessKey&UserName=etl&Version=2010-05-08");
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = created
            .find(&open)
            .map(|i| i + open.len())
            .expect("tag in CreateAccessKey");
        let end = created[start..].find('<').expect("closing tag") + start;
        created[start..end].to_owned()
    };
    let (key_id, secret) = (tag("AccessKeyId"), tag("SecretAccessKey"));
    let bucket = unique_bucket("auth");
    create_bucket(ep, &bucket);

    let t = TestDir::new();
    let sim = Sim::start(&["--accounts", "1", "--followers", "30", "--following", "3"]);
    let job = t.job_with(
        &sim,
        "",
        &format!("url = \"s3://{bucket}/pp\""),
        &accounts_toml(&[("acc_linkedin_0000", "linkedin")]),
    );

    // The right key: the run exports, so moto really checks object_store's signatures.
    run_job_env(&job, &[], &aws_env(ep, &key_id, &secret)).expect_code(0, &t.out());
    let requests = sim_requests(&sim);
    assert!(requests > 0);
    let got = keys(
        &s3_store_with(ep, &bucket, &key_id, &secret),
        "pp/followers",
    );
    assert_eq!(
        got,
        vec![part_key(
            "pp",
            "followers",
            "linkedin",
            "acc_linkedin_0000",
            0
        )]
    );

    let wrong_secret = "pp-wrong-secret-Xv93kQ0tZ";
    for (id, sec, code) in [
        (key_id.as_str(), wrong_secret, "SignatureDoesNotMatch"),
        ("AKIAPPUNKNOWNKEY0001", wrong_secret, "InvalidAccessKeyId"),
    ] {
        let o = run_job_env(&job, &[], &aws_env(ep, id, sec));
        o.expect_code(1, &t.out());
        assert_eq!(
            sim_requests(&sim),
            requests,
            "{code}: no API request before the destination check"
        );
        let want = format!("bucket \"{bucket}\" rejected the credentials ({code})");
        assert!(o.stderr.contains(&want), "{}", o.stderr);
        for s in [sec, secret.as_str()] {
            assert!(
                !o.stderr.contains(s) && !o.stdout.contains(s),
                "{code}: a secret was printed"
            );
        }
    }
}
