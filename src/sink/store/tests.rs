//! Unit tests of `store`: URL parsing, preflight messages, error classification.
use super::*;

/// The S3 error code is read from the body quoted in object_store's message.
#[test]
fn s3_codes_are_found() {
    let text = "Object at location p not found: Error performing PUT http://h/b/p in 2ms - \
                Server returned non-2xx status code: 404 Not Found: <?xml version=\"1.0\"?>\
                <Error><Code>NoSuchBucket</Code><BucketName>b</BucketName></Error>";
    assert_eq!(s3_error_code(text).as_deref(), Some("NoSuchBucket"));
    assert_eq!(s3_error_code("connection refused"), None);
    assert_eq!(s3_error_code("<Code></Code>"), None);
}

/// `s3://bucket/prefix` opens an S3 store named after the bucket, with the prefix parsed
/// and the region and endpoint taken from the environment the standard way.
#[test]
fn s3_urls_open_without_io() {
    let d = open("s3://my-bucket/exports/pp/").expect("opens");
    assert!(d.is_s3);
    assert_eq!(d.prefix.as_ref(), "exports/pp");
    assert_eq!(d.display, "s3://my-bucket/exports/pp/");
    match &d.target {
        Target::S3 { bucket, .. } => assert_eq!(bucket, "my-bucket"),
        other => panic!("not S3: {other:?}"),
    }
    let root = open("s3://b").expect("opens");
    assert_eq!(root.prefix.as_ref(), "");
    assert!(!format!("{d:?}").contains("secret"), "{d:?}");
    let key = super::super::layout::Layout::new(&d.prefix).manifest("2026-11-26", "r1");
    assert_eq!(
        d.url_of(&key),
        "s3://my-bucket/exports/pp/_runs/snapshot_date=2026-11-26/r1.json"
    );
}

/// Every cause names the bucket.
#[test]
fn causes_name_the_bucket() {
    let b = || "pp-bucket".to_owned();
    let causes = [
        PreflightCause::NoSuchBucket { bucket: b() },
        PreflightCause::CredentialsRejected {
            bucket: b(),
            code: "InvalidAccessKeyId".into(),
        },
        PreflightCause::AccessDenied {
            bucket: b(),
            code: "AccessDenied".into(),
        },
        PreflightCause::WrongRegion {
            bucket: b(),
            region: "us-east-1".into(),
        },
        PreflightCause::NoCredentials { bucket: b() },
        PreflightCause::Unreachable {
            bucket: b(),
            endpoint: "http://127.0.0.1:1".into(),
        },
        PreflightCause::Refused {
            bucket: b(),
            code: None,
        },
    ];
    for c in causes {
        assert!(c.to_string().contains("\"pp-bucket\""), "{c}");
    }
    assert_eq!(
        PreflightCause::NoSuchBucket { bucket: b() }.to_string(),
        "bucket \"pp-bucket\" does not exist (NoSuchBucket)"
    );
}

/// A server error that outlived every retry is named as the server's failure, with what the
/// server said, never as the bucket refusing the write; a 4xx code stays a refusal.
#[test]
fn server_errors_are_the_servers_failure() {
    let d = open("s3://pp-bucket/pp").expect("opens");
    let failed = |text: &str| SinkError::Store {
        op: "put",
        path: "pp/_staging/r1/_preflight".into(),
        source: super::super::Cause(object_store::Error::Generic {
            store: "S3",
            source: Box::new(std::io::Error::other(text.to_owned())),
        }),
    };
    let e500 = failed(
        "Error after 5 retries: Server returned non-2xx status code: 500 Internal Server Error: \
         <Error><Code>InternalError</Code><Message>We encountered an internal error</Message></Error>",
    );
    let cause = d.diagnose(&e500);
    assert_eq!(
        cause,
        PreflightCause::ServerFailed {
            bucket: "pp-bucket".into(),
            status: Some(500),
            code: Some("InternalError".into()),
        }
    );
    let text = cause.to_string();
    assert!(text.contains("500 InternalError"), "{text}");
    assert!(!text.contains("refused"), "{text}");
    let slow = d.diagnose(&failed(
        "Server returned error response: <Error><Code>SlowDown</Code></Error>",
    ));
    assert!(
        matches!(&slow, PreflightCause::ServerFailed { code: Some(c), .. } if c == "SlowDown"),
        "{slow:?}"
    );
    let refused = d.diagnose(&failed(
        "Server returned non-2xx status code: 400 Bad Request: <Error><Code>InvalidRequest</Code></Error>",
    ));
    assert!(
        matches!(refused, PreflightCause::Refused { .. }),
        "{refused:?}"
    );
}
