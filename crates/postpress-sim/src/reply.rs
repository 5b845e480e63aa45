//! Responses on the wire: the body type (whole or truncated on purpose) and the API's error
//! envelope with its helpers (documented types, 400, 429 with `Retry-After`).
//!
//! Owns how a response is built, not when one is sent: `server` and `control` decide that. It
//! must not know about lists, cursors or faults.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Response, StatusCode};

use super::api_errors::{ERROR_TYPES, INVALID_REQUEST, TOO_MANY_REQUESTS};
use super::json::{ObjectWriter, write_u64};
use super::limit::retry_after_secs;

/// Returned by the service to make hyper close the connection without a response.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped on purpose")]
pub(crate) struct Dropped;

/// The body error that aborts a truncated response.
#[derive(Debug, thiserror::Error)]
#[error("response body truncated on purpose")]
pub(crate) struct Truncated;

/// A response body: whole, or cut short on purpose.
pub(crate) enum SimBody {
    /// The whole body, taken when sent.
    Full(Option<Bytes>),
    /// The first part of a body, then an error that aborts the connection.
    Truncated {
        /// The part sent.
        part: Option<Bytes>,
        /// The length announced in `content-length`.
        total: u64,
        /// A short pause after the part, so it is flushed before the connection is aborted.
        pause: Option<Pin<Box<tokio::time::Sleep>>>,
    },
}

impl SimBody {
    /// A whole body.
    pub(crate) fn full(body: impl Into<Bytes>) -> Self {
        SimBody::Full(Some(body.into()))
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = Truncated;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Truncated>>> {
        match self.get_mut() {
            SimBody::Full(body) => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
            SimBody::Truncated { part, pause, .. } => {
                if let Some(b) = part.take() {
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                let sleep = pause
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(20))));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Truncated))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, SimBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SimBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            SimBody::Full(None) => SizeHint::with_exact(0),
            SimBody::Truncated { total, .. } => SizeHint::with_exact(*total),
        }
    }
}

/// What the service answers: a response, or a connection closed without one.
pub(crate) type Reply = Result<Response<SimBody>, Dropped>;

/// `content-type: application/json`.
pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A JSON response with this status and body.
pub(crate) fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<SimBody> {
    let mut resp = Response::new(SimBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, JSON);
    resp
}

/// The API's error envelope: `{"title","detail","instance","type","status"}`.
pub(crate) fn envelope(
    status: u16,
    kind: &str,
    title: &str,
    detail: &str,
    request_id: u64,
) -> Response<SimBody> {
    let mut out = Vec::with_capacity(256);
    let mut o = ObjectWriter::open(&mut out);
    o.str("title", title);
    o.str("detail", detail);
    o.fmt("instance", format_args!("req_{request_id:09}"));
    o.str("type", kind);
    o.int("status", i64::from(status));
    o.close();
    json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        out,
    )
}

/// The envelope of the documented error type at `index` of [`ERROR_TYPES`].
pub(crate) fn documented(index: usize, request_id: u64) -> Response<SimBody> {
    let t = &ERROR_TYPES[index];
    envelope(t.status, t.kind, t.title, t.detail, request_id)
}

/// A 400 `errors/invalid_request` saying what is wrong.
pub(crate) fn bad_request(detail: &str, request_id: u64) -> Response<SimBody> {
    envelope(400, INVALID_REQUEST, "Invalid request", detail, request_id)
}

/// A 429 `errors/too_many_requests` with `Retry-After` (whole seconds, rounded up).
pub(crate) fn too_many(wait: Duration, detail: &str, request_id: u64) -> Response<SimBody> {
    let mut resp = envelope(
        429,
        TOO_MANY_REQUESTS,
        "Too many requests",
        detail,
        request_id,
    );
    let mut secs = Vec::with_capacity(4);
    write_u64(&mut secs, retry_after_secs(wait));
    if let Ok(value) = HeaderValue::from_bytes(&secs) {
        resp.headers_mut().insert(RETRY_AFTER, value);
    }
    resp
}
