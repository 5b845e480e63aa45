//! The HTTP client: builds requests, passes every attempt through the rate limiters, reads the
//! body under a size cap, classifies failures and retries with backoff.

use super::error::{ApiError, AttemptError, Disposition, Envelope, TransportKind};
use super::limit::{AccountPacer, KeyCalendar};
use super::retry::{Backoff, parse_ratelimit_reset, parse_retry_after};
use super::secret::ApiKey;
use crate::model::Dataset;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue, RETRY_AFTER};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// The largest page body accepted (SPEC §3).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Client settings, from the validated job.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL without trailing slash, e.g. `https://api.postpress.ai/api/v1`.
    pub base_url: String,
    /// The key.
    pub api_key: ApiKey,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: NonZeroU32,
    /// First backoff ceiling.
    pub backoff_initial: Duration,
    /// Backoff cap, also caps Retry-After.
    pub backoff_max: Duration,
    /// Key-wide requests per second.
    pub requests_per_second: f64,
    /// Idle connections kept per host (the unit concurrency).
    pub pool_size: usize,
}

/// The client could not be built (TLS backend, bad header bytes in the key).
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    /// The key has bytes a header cannot carry.
    #[error("the API key contains characters that cannot be sent in an HTTP header")]
    KeyNotHeaderSafe,
    /// reqwest refused the configuration.
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
    /// The base URL does not join with the endpoint paths.
    #[error("base URL {0:?} cannot be joined with the endpoint path")]
    BaseUrl(String),
}

/// A body that could not be used as a page. `E` is the caller's own error for a page that breaks
/// its schema: the client passes it through untouched, fields and all.
#[derive(Debug)]
pub enum ParseFailure<E> {
    /// Not JSON, or cut short: transient, the request is retried.
    Unparseable(String),
    /// Valid JSON that breaks the page schema: the unit fails at once.
    Invalid(E),
}

/// Counters of one unit's requests, for the manifest and the summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FetchStats {
    /// HTTP requests sent, retries included.
    pub attempts: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Answers that said "too fast" (429, x-ratelimit-remaining: 0).
    pub throttles: u64,
    /// Retryable failures other than throttles.
    pub faults: u64,
    /// Page bytes received (successful pages).
    pub bytes: u64,
}

/// What identifies a unit's requests.
pub struct UnitRequest<'a> {
    pub account_id: &'a str,
    /// Which list.
    pub dataset: Dataset,
    /// `user_id`, passed through.
    pub user_id: Option<&'a str>,
    pub limit: u32,
    /// The account's pacer, shared by its datasets.
    pub account_limiter: &'a AccountPacer,
}

/// The postpress API client. Cheap to share behind an `Arc`.
pub struct Client {
    http: reqwest::Client,
    followers_url: reqwest::Url,
    following_url: reqwest::Url,
    cfg: ClientConfig,
    key_limiter: KeyCalendar,
    cancel: CancellationToken,
}

struct Response {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Client {
    /// Builds the client; the key header is marked sensitive so no debug output shows it.
    pub fn try_new(
        cfg: ClientConfig,
        cancel: CancellationToken,
    ) -> Result<Arc<Client>, ClientBuildError> {
        crate::tls::install_crypto_provider();
        let mut headers = HeaderMap::new();
        let mut key = HeaderValue::from_str(cfg.api_key.expose())
            .map_err(|_| ClientBuildError::KeyNotHeaderSafe)?;
        key.set_sensitive(true);
        headers.insert("x-api-key", key);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("postpress-etl/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(cfg.timeout)
            .pool_max_idle_per_host(cfg.pool_size.max(1))
            .tcp_nodelay(true)
            // A redirect would carry the key to wherever it points (reqwest only strips the
            // standard credential headers); the API answers where it is asked, so a 3xx fails
            // the unit with its status instead.
            .redirect(reqwest::redirect::Policy::none());
        if cfg.base_url.starts_with("http://") {
            // No TLS connection can follow from a plain-HTTP base URL (no redirects): the
            // platform's trust store, hundreds of files read at start, is not loaded.
            builder = builder.tls_certs_only([]);
        }
        let http = builder.build().map_err(ClientBuildError::Build)?;
        let join = |ep: &str| {
            reqwest::Url::parse(&format!("{}/{}", cfg.base_url, ep))
                .map_err(|_| ClientBuildError::BaseUrl(cfg.base_url.clone()))
        };
        Ok(Arc::new(Client {
            http,
            followers_url: join(Dataset::Followers.endpoint())?,
            following_url: join(Dataset::Following.endpoint())?,
            key_limiter: KeyCalendar::per_second(cfg.requests_per_second),
            cfg,
            cancel,
        }))
    }

    /// Fetches one page: limiters, request, classification, retries. `parse` turns a 200 body
    /// into the caller's page; an `Unparseable` body counts as a failed attempt and is retried.
    pub async fn get_page<T, E: std::error::Error + 'static>(
        &self,
        req: &UnitRequest<'_>,
        cursor: Option<&str>,
        stats: &mut FetchStats,
        mut parse: impl FnMut(Vec<u8>) -> Result<T, ParseFailure<E>>,
    ) -> Result<T, PageError<E>> {
        let max_attempts = self.cfg.max_attempts.get();
        let mut backoff = Backoff::new(self.cfg.backoff_initial, self.cfg.backoff_max);
        let first = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let waited = self.wait_for_slot(req).await?;
            stats.attempts += 1;
            if attempt > 1 {
                stats.retries += 1;
            }
            let failure = match self.send(req, cursor).await? {
                Ok(resp) if resp.status == 200 => {
                    self.note_ratelimit(req, &resp.headers, stats);
                    let len = resp.body.len();
                    match parse(resp.body) {
                        Ok(page) => {
                            stats.bytes += len as u64;
                            let wait_ms = waited.as_millis() as u64;
                            debug!(
                                attempt,
                                wait_ms,
                                bytes = len,
                                status = 200u16,
                                "Page received."
                            );
                            return Ok(page);
                        }
                        Err(ParseFailure::Invalid(e)) => return Err(PageError::Invalid(e)),
                        Err(ParseFailure::Unparseable(message)) => AttemptError::Transport {
                            kind: TransportKind::Unparseable,
                            cause: message.clone(),
                            message,
                        },
                    }
                }
                Ok(resp) => self.status_failure(req, resp, stats),
                Err(e) => e,
            };
            let (after, throttle) = match failure.disposition() {
                Disposition::AbortRun => {
                    return Err(ApiError::KeyRejected { source: failure }.into());
                }
                Disposition::FailUnit => {
                    return Err(ApiError::Rejected {
                        attempts: attempt,
                        source: failure,
                    }
                    .into());
                }
                Disposition::Retry { after, throttle } => (after, throttle),
            };
            if throttle {
                stats.throttles += 1;
            } else {
                stats.faults += 1;
            }
            if attempt >= max_attempts {
                let elapsed = first.elapsed();
                return Err(ApiError::Exhausted {
                    attempts: attempt,
                    elapsed,
                    source: failure,
                }
                .into());
            }
            self.back_off(backoff.delay(attempt, after), attempt, &failure)
                .await?;
        }
    }

    /// A non-200 answer as a failed attempt, with its envelope and `Retry-After`.
    fn status_failure(
        &self,
        req: &UnitRequest<'_>,
        resp: Response,
        stats: &mut FetchStats,
    ) -> AttemptError {
        self.note_ratelimit(req, &resp.headers, stats);
        let retry_after = resp
            .headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        AttemptError::Status {
            status: resp.status,
            envelope: Envelope::parse(&resp.body).map(Box::new),
            retry_after,
        }
    }

    /// Logs the retry once at WARN and sleeps `delay`, unless the run stops first.
    async fn back_off(
        &self,
        delay: Duration,
        attempt: u32,
        failure: &AttemptError,
    ) -> Result<(), ApiError> {
        warn!(
            attempt,
            max_attempts = self.cfg.max_attempts.get(),
            delay_ms = delay.as_millis() as u64,
            status = failure.status(),
            error_type = %failure.error_type(),
            error = %failure,
            "Request failed, retrying."
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => Ok(()),
            () = self.cancel.cancelled() => Err(ApiError::Cancelled),
        }
    }

    /// One instant that both the account's limiter and the key's allow: the request goes out
    /// then, with no second wait that could bunch it up with the account's next request.
    async fn wait_for_slot(&self, req: &UnitRequest<'_>) -> Result<Duration, ApiError> {
        req.account_limiter
            .acquire_with(&self.key_limiter, &self.cancel)
            .await
            .map_err(|_| ApiError::Cancelled)
    }

    /// `x-ratelimit-remaining: 0` with `x-ratelimit-reset`: the account waits for the reset.
    fn note_ratelimit(&self, req: &UnitRequest<'_>, headers: &HeaderMap, stats: &mut FetchStats) {
        let remaining = headers
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        if remaining != Some(0.0) {
            return;
        }
        if let Some(reset) = headers
            .get("x-ratelimit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_ratelimit_reset(v, SystemTime::now()))
        {
            stats.throttles += 1;
            let reset = reset.min(self.cfg.backoff_max);
            req.account_limiter.defer_until(Instant::now() + reset);
        }
    }

    /// One attempt under the timeout. The outer error is cancellation; the inner, a failed attempt.
    async fn send(
        &self,
        req: &UnitRequest<'_>,
        cursor: Option<&str>,
    ) -> Result<Result<Response, AttemptError>, ApiError> {
        let url = match req.dataset {
            Dataset::Followers => self.followers_url.clone(),
            Dataset::Following => self.following_url.clone(),
        };
        let mut query: Vec<(&str, String)> = vec![
            ("account_id", req.account_id.to_owned()),
            ("limit", req.limit.to_string()),
        ];
        if let Some(u) = req.user_id {
            query.push(("user_id", u.to_owned()));
        }
        if let Some(c) = cursor {
            query.push(("cursor", c.to_owned()));
        }
        let attempt = async {
            let resp = self
                .http
                .get(url)
                .query(&query)
                .send()
                .await
                .map_err(transport)?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = read_body(resp).await?;
            Ok(Response {
                status,
                headers,
                body,
            })
        };
        tokio::select! {
            r = tokio::time::timeout(self.cfg.timeout, attempt) => Ok(r.unwrap_or_else(|_| {
                let message = format!("no complete answer within {}", humantime::format_duration(self.cfg.timeout));
                Err(AttemptError::Transport { kind: TransportKind::Timeout, cause: message.clone(), message })
            })),
            () = self.cancel.cancelled() => Err(ApiError::Cancelled),
        }
    }
}

async fn read_body(mut resp: reqwest::Response) -> Result<Vec<u8>, AttemptError> {
    let too_large = AttemptError::BodyTooLarge {
        limit: MAX_BODY_BYTES,
    };
    let hint = resp.content_length().unwrap_or(0);
    if hint > MAX_BODY_BYTES as u64 {
        return Err(too_large);
    }
    let mut body = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn transport(e: reqwest::Error) -> AttemptError {
    let kind = if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_body() || e.is_decode() {
        TransportKind::Body
    } else {
        TransportKind::Connect
    };
    // The error's own chain names the cause (connection reset, incomplete message); the URL it
    // may carry holds no secret, the key travels in a header.
    let message = crate::error_chain(&e);
    let mut deepest = std::error::Error::source(&e);
    while let Some(next) = deepest.and_then(std::error::Error::source) {
        deepest = Some(next);
    }
    let cause = match deepest {
        Some(d) => d.to_string(),
        None => e.without_url().to_string(),
    };
    AttemptError::Transport {
        kind,
        message,
        cause,
    }
}

/// Why a page was not delivered. `E` is the parser's own error (see [`ParseFailure`]).
#[derive(Debug, thiserror::Error)]
pub enum PageError<E: std::error::Error + 'static> {
    /// The API did not deliver it.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// It was delivered but breaks the schema.
    #[error("invalid page")]
    Invalid(#[source] E),
}
