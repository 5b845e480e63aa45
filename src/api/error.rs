//! The API's error envelope and the one table that decides, for any failed attempt, whether to
//! retry it, fail the unit, or stop the whole run (SPEC §3).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The error body every API error carries: `{title, detail, instance, type, status}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// HTTP status as the body states it.
    #[serde(default)]
    pub status: Option<u16>,
    /// Error type, e.g. `errors/provider_error`.
    #[serde(rename = "type", default)]
    pub error_type: Option<String>,
    /// Short title.
    #[serde(default)]
    pub title: Option<String>,
    /// Human-readable explanation.
    #[serde(default)]
    pub detail: Option<String>,
    /// The request id support asks for.
    #[serde(default)]
    pub instance: Option<String>,
}

impl Envelope {
    /// Parses an error body; `None` when it is not an envelope (a proxy's HTML page, say).
    pub fn parse(body: &[u8]) -> Option<Envelope> {
        let e: Envelope = serde_json::from_slice(body).ok()?;
        (e.error_type.is_some() || e.title.is_some()).then_some(e)
    }
}

impl fmt::Display for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.error_type.as_deref().unwrap_or("untyped error"))?;
        if let Some(t) = &self.title {
            write!(f, ": {t}")?;
        }
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        if let Some(i) = &self.instance {
            write!(f, " (request {i})")?;
        }
        Ok(())
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Try again after a backoff (or the server's `Retry-After`). `throttle` marks "too fast"
    /// answers, counted apart from faults.
    Retry {
        /// The server asked to wait this long.
        after: Option<Duration>,
        /// A rate-limit answer (429), not a fault.
        throttle: bool,
    },
    /// The unit fails now; retrying cannot help.
    FailUnit,
    /// The API key itself is wrong: stop the whole run.
    AbortRun,
}

/// Error types that mean the key is unusable for every account (SPEC §3, run-fatal).
const RUN_FATAL_TYPES: [&str; 2] = [
    "errors/missing_credentials",
    "errors/insufficient_privileges",
];

/// Classifies an HTTP error answer by status and envelope type. The whole policy is here.
pub fn classify_status(
    status: u16,
    error_type: Option<&str>,
    retry_after: Option<Duration>,
) -> Disposition {
    let retry = Disposition::Retry {
        after: retry_after,
        throttle: false,
    };
    if error_type.is_some_and(|t| RUN_FATAL_TYPES.contains(&t)) {
        return Disposition::AbortRun;
    }
    match status {
        429 => Disposition::Retry {
            after: retry_after,
            throttle: true,
        },
        500 if error_type == Some("errors/authentication_intent_error") => Disposition::FailUnit,
        // 500 provider_error / unexpected_error, any 503, 504; also 502 and other server
        // errors the docs don't list, which are transient by nature.
        500 | 502..=504 | 506..=599 => retry,
        // 400, 401, 403, 404, 501 and everything else: asking again gets the same answer.
        _ => Disposition::FailUnit,
    }
}

/// The kinds of transport failure, all retried (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Could not connect, or the connection dropped before a response.
    Connect,
    /// The attempt exceeded `api.timeout`.
    Timeout,
    /// The body ended early or could not be read.
    Body,
    /// The body is not parseable JSON (truncated, cut).
    Unparseable,
}

impl TransportKind {
    /// Name used in logs and manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Connect => "connection",
            TransportKind::Timeout => "timeout",
            TransportKind::Body => "body",
            TransportKind::Unparseable => "unparseable_body",
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attempt's failure.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// The server answered with an error status.
    #[error("HTTP {status}: {}", envelope.as_ref().map_or_else(|| "no error envelope".to_owned(), ToString::to_string))]
    Status {
        /// HTTP status.
        status: u16,
        /// The envelope, when the body was one.
        envelope: Option<Box<Envelope>>,
        /// `Retry-After`, parsed.
        retry_after: Option<Duration>,
    },
    /// The request or response failed below HTTP.
    #[error("{kind} error: {message}")]
    Transport {
        /// Which kind.
        kind: TransportKind,
        /// The underlying error, flattened to text (reqwest errors can carry the URL; ours has no
        /// secret in it, the key travels in a header).
        message: String,
        /// The deepest cause alone, without the URL: the same text for every request that
        /// failed the same way, whatever its account (the run's breaker compares it).
        cause: String,
    },
    /// The body exceeded the 64 MiB page limit.
    #[error("page body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
}

impl AttemptError {
    /// The disposition of this failure.
    pub fn disposition(&self) -> Disposition {
        match self {
            AttemptError::Status {
                status,
                envelope,
                retry_after,
            } => classify_status(
                *status,
                envelope.as_ref().and_then(|e| e.error_type.as_deref()),
                *retry_after,
            ),
            AttemptError::Transport { .. } => Disposition::Retry {
                after: None,
                throttle: false,
            },
            AttemptError::BodyTooLarge { .. } => Disposition::FailUnit,
        }
    }

    /// A transport error's deepest cause, without the URL.
    pub fn cause(&self) -> Option<&str> {
        match self {
            AttemptError::Transport { cause, .. } => Some(cause),
            _ => None,
        }
    }

    /// HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            AttemptError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A short type for manifests and logs: the envelope type, `http_502`, `timeout`, ...
    pub fn error_type(&self) -> String {
        match self {
            AttemptError::Status {
                status, envelope, ..
            } => envelope
                .as_ref()
                .and_then(|e| e.error_type.clone())
                .unwrap_or_else(|| format!("http_{status}")),
            AttemptError::Transport { kind, .. } => kind.as_str().to_owned(),
            AttemptError::BodyTooLarge { .. } => "body_too_large".to_owned(),
        }
    }

    /// The envelope, if any.
    pub fn envelope(&self) -> Option<&Envelope> {
        match self {
            AttemptError::Status { envelope, .. } => envelope.as_deref(),
            _ => None,
        }
    }
}

/// Why a page could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The answer cannot change by asking again: the unit fails.
    #[error("request rejected after {attempts} attempt(s)")]
    Rejected {
        /// Attempts made.
        attempts: u32,
        /// The final answer.
        #[source]
        source: AttemptError,
    },
    /// Every attempt failed with a retryable error.
    #[error("gave up after {attempts} attempts in {:.1}s", elapsed.as_secs_f64())]
    Exhausted {
        /// Attempts made (= max_attempts).
        attempts: u32,
        /// Time from the first attempt to giving up.
        elapsed: Duration,
        /// The last failure.
        #[source]
        source: AttemptError,
    },
    /// The key is rejected for everything: the run must stop.
    #[error("the API key was rejected")]
    KeyRejected {
        /// The answer.
        #[source]
        source: AttemptError,
    },
    /// The run is stopping.
    #[error("cancelled")]
    Cancelled,
}

impl ApiError {
    /// The last attempt's failure, if any.
    pub fn attempt_error(&self) -> Option<&AttemptError> {
        match self {
            ApiError::Rejected { source, .. }
            | ApiError::Exhausted { source, .. }
            | ApiError::KeyRejected { source } => Some(source),
            ApiError::Cancelled => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Disposition = Disposition::Retry {
        after: None,
        throttle: false,
    };
    const F: Disposition = Disposition::FailUnit;
    const A: Disposition = Disposition::AbortRun;

    /// Every documented error type, with its documented status, and the disposition SPEC §3 gives it.
    #[test]
    fn classification_table() {
        let table: &[(u16, &str, Disposition)] = &[
            (401, "errors/missing_credentials", A),
            (401, "errors/multiple_sessions", F),
            (401, "errors/invalid_checkpoint_solution", F),
            (401, "errors/invalid_proxy_credentials", F),
            (401, "errors/checkpoint_error", F),
            (401, "errors/invalid_credentials", F),
            (401, "errors/expired_credentials", F),
            (401, "errors/insufficient_privileges", A),
            (401, "errors/disconnected_account", F),
            (401, "errors/disconnected_feature", F),
            (401, "errors/invalid_credentials_but_valid_account_imap", F),
            (401, "errors/expired_link", F),
            (401, "errors/wrong_account", F),
            (403, "errors/account_restricted", F),
            (403, "errors/account_mismatch", F),
            (403, "errors/insufficient_permissions", F),
            (403, "errors/session_mismatch", F),
            (403, "errors/feature_not_subscribed", F),
            (403, "errors/subscription_required", F),
            (403, "errors/unknown_authentication_context", F),
            (403, "errors/action_required", F),
            (403, "errors/resource_access_restricted", F),
            (404, "errors/resource_not_found", F),
            (404, "errors/invalid_resource_identifier", F),
            (500, "errors/unexpected_error", R),
            (500, "errors/provider_error", R),
            (500, "errors/authentication_intent_error", F),
            (501, "errors/feature_not_implemented", F),
            (503, "errors/no_client_session", R),
            (503, "errors/no_channel", R),
            (503, "errors/no_handler", R),
            (503, "errors/network_down", R),
            (503, "errors/service_unavailable", R),
            (504, "errors/request_timeout", R),
            (400, "errors/invalid_request", F),
            (422, "errors/whatever", F),
        ];
        for (status, ty, want) in table {
            assert_eq!(
                classify_status(*status, Some(ty), None),
                *want,
                "{status} {ty}"
            );
        }
    }

    /// 429 is a throttle and keeps its Retry-After; untyped server errors retry, client errors fail.
    #[test]
    fn status_only_cases() {
        let ra = Some(Duration::from_secs(3));
        assert_eq!(
            classify_status(429, None, ra),
            Disposition::Retry {
                after: ra,
                throttle: true
            }
        );
        assert_eq!(
            classify_status(503, None, ra),
            Disposition::Retry {
                after: ra,
                throttle: false
            }
        );
        assert_eq!(classify_status(502, None, None), R);
        assert_eq!(classify_status(500, None, None), R);
        assert_eq!(classify_status(501, None, None), F);
        assert_eq!(classify_status(404, None, None), F);
        assert_eq!(classify_status(302, None, None), F);
    }

    /// Transport failures retry; an oversized body fails the unit.
    #[test]
    fn transport_dispositions() {
        for kind in [
            TransportKind::Connect,
            TransportKind::Timeout,
            TransportKind::Body,
            TransportKind::Unparseable,
        ] {
            let e = AttemptError::Transport {
                kind,
                message: "x".into(),
                cause: "x".into(),
            };
            assert_eq!(e.disposition(), R);
        }
        assert_eq!(AttemptError::BodyTooLarge { limit: 1 }.disposition(), F);
    }

    /// The error chain reads as one sentence from the unit failure down to the envelope.
    #[test]
    fn chain_keeps_the_envelope() {
        let env = Envelope::parse(br#"{"title":"Account restricted","detail":"by provider","instance":"req_1","type":"errors/account_restricted","status":403}"#)
            .expect("an envelope");
        let e = ApiError::Rejected {
            attempts: 1,
            source: AttemptError::Status {
                status: 403,
                envelope: Some(Box::new(env)),
                retry_after: None,
            },
        };
        let mut chain = vec![e.to_string()];
        let mut cur: &dyn std::error::Error = &e;
        while let Some(s) = cur.source() {
            chain.push(s.to_string());
            cur = s;
        }
        assert_eq!(
            chain,
            [
                "request rejected after 1 attempt(s)",
                "HTTP 403: errors/account_restricted: Account restricted: by provider (request req_1)"
            ]
        );
    }
}
