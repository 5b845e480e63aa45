//! Why a destination cannot be written, in an operator's words: the preflight (a marker written
//! and deleted before any API request is sent) and the diagnosis of a failed storage call, each
//! naming the bucket or directory. object_store's typed errors decide where they exist; what
//! exists only in the text of its messages is read in one place ([`ErrorText`]), pinned by tests.
//!
//! It must not open stores (`store`), nor know the API, Parquet or the layouts.

use super::SinkError;
use super::store::{Destination, Target};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::path::Path;
use std::fmt;

/// Why the destination failed its preflight, in an operator's words; each names the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreflightCause {
    /// S3 answered that the bucket does not exist.
    NoSuchBucket {
        /// The bucket.
        bucket: String,
    },
    /// S3 did not accept the credentials: unknown key id, bad signature, expired token.
    CredentialsRejected {
        /// The bucket.
        bucket: String,
        /// S3's error code, e.g. `InvalidAccessKeyId`.
        code: String,
    },
    /// The credentials are valid but may not write or delete under the prefix.
    AccessDenied {
        /// The bucket.
        bucket: String,
        /// S3's error code, e.g. `AccessDenied`.
        code: String,
    },
    /// Requests are signed for another region than the bucket's.
    WrongRegion {
        /// The bucket.
        bucket: String,
        /// The region configured.
        region: String,
    },
    /// No credentials could be obtained: no keys, and no web identity or instance role answered.
    NoCredentials {
        /// The bucket.
        bucket: String,
    },
    /// The S3 endpoint could not be reached: DNS, refused connection, timeout, TLS.
    Unreachable {
        /// The bucket.
        bucket: String,
        /// The endpoint.
        endpoint: String,
    },
    /// The S3 server failed (a 5xx answer, such as 500 InternalError or 503 SlowDown) through
    /// every retry: the server's failure, not a refusal of the request.
    ServerFailed {
        /// The bucket.
        bucket: String,
        /// The HTTP status, when the message names it.
        status: Option<u16>,
        /// S3's error code, when it sent one.
        code: Option<String>,
    },
    /// S3 refused for another reason.
    Refused {
        /// The bucket.
        bucket: String,
        /// S3's error code, when it sent one.
        code: Option<String>,
    },
    /// The store ignores conditional writes, and the job asks for exclusive leases.
    NoConditionalWrites {
        /// The bucket or directory.
        target: String,
    },
    /// The local directory cannot be written.
    LocalNotWritable {
        /// The directory.
        dir: String,
    },
}

impl fmt::Display for PreflightCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PreflightCause::NoSuchBucket { bucket } => {
                write!(f, "bucket {bucket:?} does not exist (NoSuchBucket)")
            }
            PreflightCause::CredentialsRejected { bucket, code } => write!(
                f,
                "bucket {bucket:?} rejected the credentials ({code}); check AWS_ACCESS_KEY_ID, \
                 AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or the role"
            ),
            PreflightCause::AccessDenied { bucket, code } => write!(
                f,
                "bucket {bucket:?} denied access ({code}); the credentials need s3:PutObject, \
                 s3:GetObject, s3:DeleteObject and s3:ListBucket under the prefix"
            ),
            PreflightCause::WrongRegion { bucket, region } => write!(
                f,
                "bucket {bucket:?} is not in region {region:?}; set AWS_REGION to the bucket's region"
            ),
            PreflightCause::NoCredentials { bucket } => write!(
                f,
                "no AWS credentials could be obtained for bucket {bucket:?}; set AWS_ACCESS_KEY_ID \
                 and AWS_SECRET_ACCESS_KEY, or use web identity (IRSA) or an instance role"
            ),
            PreflightCause::Unreachable { bucket, endpoint } => write!(
                f,
                "the S3 endpoint {endpoint} of bucket {bucket:?} cannot be reached"
            ),
            PreflightCause::ServerFailed {
                bucket,
                status,
                code,
            } => {
                let what = match (status, code) {
                    (Some(s), Some(c)) => format!("{s} {c}"),
                    (Some(s), None) => s.to_string(),
                    (None, Some(c)) => c.clone(),
                    (None, None) => "a server error".to_owned(),
                };
                write!(
                    f,
                    "the S3 server of bucket {bucket:?} kept failing ({what}) through every retry: \
                     the server failed, it did not refuse the request; try again once it recovers"
                )
            }
            PreflightCause::Refused { bucket, code } => match code {
                Some(code) => write!(f, "bucket {bucket:?} refused the write ({code})"),
                None => write!(f, "bucket {bucket:?} refused the write"),
            },
            PreflightCause::NoConditionalWrites { target } => write!(
                f,
                "{target} does not honour conditional writes (create-if-absent, If-None-Match / \
                 If-Match), which exclusive leases need (SPEC §10); use a store that does, or set \
                 output.exclusive_leases = false in the job and make sure the scheduler never \
                 starts two runs of one job, date and shard, nor two finalizes of one date"
            ),
            PreflightCause::LocalNotWritable { dir } => {
                write!(f, "output directory {dir} is not writable")
            }
        }
    }
}

/// The preflight write/delete of a marker failed: the cause, then the storage error.
#[derive(Debug, thiserror::Error)]
#[error("{cause}")]
pub struct PreflightError {
    /// What is wrong, naming the bucket or directory.
    pub cause: PreflightCause,
    /// The failed storage call.
    #[source]
    pub source: SinkError,
}

impl Destination {
    /// Writes and deletes `marker` below the prefix. Proves, before any API request is sent,
    /// that the bucket exists, the credentials are accepted and writes and deletes are allowed.
    pub async fn preflight(&self, marker: &Path) -> Result<(), PreflightError> {
        super::preflight(self.store.as_ref(), marker)
            .await
            .map_err(|source| PreflightError {
                cause: self.diagnose(&source),
                source,
            })
    }

    /// Names the cause of a failed storage call.
    ///
    /// What object_store gives as typed data is taken from its types: our own error's variant,
    /// the `object_store::Error` variant the answer's status maps to (404, 401, 403) and the
    /// kind of an `HttpError` in the chain. The rest exists only in the message (S3's error
    /// code, any other status, the bare redirect of a wrong region, a credential source) and is
    /// read once, by [`ErrorText::read`].
    pub fn diagnose(&self, e: &SinkError) -> PreflightCause {
        let (bucket, endpoint, region) = match &self.target {
            Target::Local { dir } => {
                return PreflightCause::LocalNotWritable { dir: dir.clone() };
            }
            Target::S3 {
                bucket,
                endpoint,
                region,
            } => (bucket.clone(), endpoint.clone(), region.clone()),
        };
        let os = match e {
            SinkError::Store { source, .. } => &source.0,
            SinkError::NoConditionalWrites { .. } => {
                return PreflightCause::NoConditionalWrites {
                    target: format!("bucket {bucket:?}"),
                };
            }
            SinkError::Encode { .. } | SinkError::Sync { .. } => {
                return PreflightCause::Refused { bucket, code: None };
            }
        };
        let said = ErrorText::read(os);
        let code = said.s3_code;
        // S3's own code is more precise than the status it came with (a 403 is a bad key or a
        // denied policy), so it is asked first.
        match code.as_deref() {
            Some("NoSuchBucket") => return PreflightCause::NoSuchBucket { bucket },
            Some(
                "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "InvalidToken"
                | "TokenRefreshRequired"
                | "InvalidSecurity"
                | "InvalidClientTokenId",
            ) => {
                let code = code.unwrap_or_default();
                return PreflightCause::CredentialsRejected { bucket, code };
            }
            Some(
                "AuthorizationHeaderMalformed"
                | "PermanentRedirect"
                | "IllegalLocationConstraintException",
            ) => {
                return PreflightCause::WrongRegion { bucket, region };
            }
            Some("AccessDenied" | "AllAccessDisabled" | "AccountProblem") => {
                let code = code.unwrap_or_default();
                return PreflightCause::AccessDenied { bucket, code };
            }
            _ => {}
        }
        match os {
            // A PUT of a new key can only be "not found" for its bucket.
            object_store::Error::NotFound { .. } => PreflightCause::NoSuchBucket { bucket },
            object_store::Error::Unauthenticated { .. } => PreflightCause::CredentialsRejected {
                bucket,
                code: code.unwrap_or_else(|| "401 Unauthorized".to_owned()),
            },
            object_store::Error::PermissionDenied { .. } => PreflightCause::AccessDenied {
                bucket,
                code: code.unwrap_or_else(|| "403 Forbidden".to_owned()),
            },
            _ if said.bare_redirect => PreflightCause::WrongRegion { bucket, region },
            _ if said.credential_source => PreflightCause::NoCredentials { bucket },
            _ if is_server_failure(code.as_deref(), said.http_status) => {
                PreflightCause::ServerFailed {
                    bucket,
                    status: said.http_status,
                    code,
                }
            }
            _ if is_transport_error(os) => PreflightCause::Unreachable {
                bucket,
                endpoint: endpoint.unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com")),
            },
            _ => PreflightCause::Refused { bucket, code },
        }
    }
}

/// Whether S3 answered with a server error: a 5xx, or a code S3 sends with one.
fn is_server_failure(code: Option<&str>, status: Option<u16>) -> bool {
    matches!(
        code,
        Some("InternalError" | "ServiceUnavailable" | "SlowDown" | "RequestTimeout")
    ) || status.is_some_and(|s| (500..600).contains(&s))
}

/// True when the request never got an HTTP answer: connect errors, timeouts, aborted requests.
/// Typed: object_store's public `HttpError` and its kind, found by walking `source()`.
fn is_transport_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(h) = c.downcast_ref::<HttpError>() {
            return matches!(
                h.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Request
                    | HttpErrorKind::Interrupted
            );
        }
        cur = c.source();
    }
    false
}

// What object_store 0.14 says only in its messages. The status and body of an answer live in
// `RetryError` and its `RequestError`, whose module (`client::retry`) is crate-private: neither
// can be named, so neither can be downcast to, and `RetryError::status()`/`body()` are out of
// reach (the public `retry::RetryFailure` carries a status only to a multipart upload's retry
// policy). The bare redirect is a `RequestError` variant too, and a credential provider's
// failure is a `Generic` error whose only trace of where it came from is the URL or file named
// in its message. Everything read from text is read here; `tests.rs` pins each text as
// object_store formats it, against object_store's own errors, so an upgrade that rewords one
// fails a test instead of changing a diagnosis.

/// Facts about a failed request that exist only in the text of its error chain.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct ErrorText {
    /// The `<Code>` of the S3 error body object_store quotes.
    s3_code: Option<String>,
    /// The status object_store quotes from `RequestError::Status`.
    http_status: Option<u16>,
    /// object_store's `RequestError::BareRedirect`: a redirect without `Location`, which S3
    /// sends for a bucket in another region.
    bare_redirect: bool,
    /// The failing request went to a credential source rather than to S3.
    credential_source: bool,
}

/// How object_store quotes an answer's status: `Server returned non-2xx status code: 500
/// Internal Server Error: <body>`.
const STATUS_CODE: &str = "status code: ";

/// The end of `RequestError::BareRedirect`'s message: `Received redirect without LOCATION,
/// this normally indicates an incorrectly configured region`.
const BARE_REDIRECT: &str = "incorrectly configured region";

/// What names a credential source in object_store's messages: the EC2 instance metadata and
/// ECS task endpoints (in the failing request's URL), STS, and the web identity token file.
const CREDENTIAL_SOURCES: [&str; 5] = [
    "169.254.169.254",
    "169.254.170.2",
    "://sts.",
    "AssumeRoleWithWebIdentity",
    "token file",
];

impl ErrorText {
    /// Reads the whole `source()` chain of `e`, every level's message joined.
    fn read(e: &(dyn std::error::Error + 'static)) -> ErrorText {
        let text = crate::error_chain(e);
        ErrorText {
            s3_code: s3_error_code(&text),
            http_status: http_status(&text),
            bare_redirect: text.contains(BARE_REDIRECT),
            credential_source: CREDENTIAL_SOURCES.iter().any(|n| text.contains(n)),
        }
    }
}

/// The `<Code>` of an S3 error body quoted in an error message, if any.
fn s3_error_code(text: &str) -> Option<String> {
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    let code = text[start..start + len].trim();
    (!code.is_empty() && code.len() < 64).then(|| code.to_owned())
}

/// The first HTTP status object_store quotes after [`STATUS_CODE`].
fn http_status(text: &str) -> Option<u16> {
    let at = text.find(STATUS_CODE)? + STATUS_CODE.len();
    text.get(at..at + 3)?.parse().ok()
}

#[cfg(test)]
mod tests;
