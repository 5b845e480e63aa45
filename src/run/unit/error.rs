//! Why a unit did not publish, and how the manifest tells it: the failure's kind, the API's
//! envelope, and where it happened (page, item, field).

use crate::api::client::PageError;
use crate::api::error::ApiError;
use crate::api::paginate::PaginateError;
use crate::error_chain as chain;
use crate::report::{FailureKind, UnitFailure};
use crate::run::breaker::Signature;
use crate::schema::decode::DecodeError;
use crate::sink::SinkError;

/// Why a unit did not publish.
#[derive(Debug, thiserror::Error)]
pub(in crate::run) enum UnitError {
    /// A page was not delivered, or broke the schema.
    #[error("page {page}")]
    Page {
        page: u64,
        #[source]
        source: PageError<DecodeError>,
    },
    /// The cursor sequence went wrong.
    #[error(transparent)]
    Paginate(#[from] PaginateError),
    /// Writing or publishing failed.
    #[error("storage")]
    Sink(#[from] SinkError),
}

impl UnitError {
    pub(super) fn is_cancelled(&self) -> bool {
        matches!(
            self,
            UnitError::Page {
                source: PageError::Api(ApiError::Cancelled),
                ..
            }
        )
    }

    /// The answer to a checkpoint's cursor that means the API no longer knows it: a 400, or a
    /// page that is not the expected list (an invalid page with no item at fault).
    pub(super) fn is_refused_cursor(&self) -> bool {
        match self {
            UnitError::Page {
                source: PageError::Api(api @ ApiError::Rejected { .. }),
                ..
            } => api.attempt_error().and_then(|a| a.status()) == Some(400),
            UnitError::Page {
                source: PageError::Invalid(d),
                ..
            } => d.item.is_none(),
            _ => false,
        }
    }

    pub(super) fn is_key_rejected(&self) -> bool {
        matches!(
            self,
            UnitError::Page {
                source: PageError::Api(ApiError::KeyRejected { .. }),
                ..
            }
        )
    }

    /// How the run-level breaker compares this failure with others (SPEC §3): the status and
    /// type of an API failure, or its transport error's kind and deepest cause; `None` for any
    /// other failure (storage, invalid page, pagination).
    pub(in crate::run) fn signature(&self) -> Option<Signature> {
        let UnitError::Page {
            source: PageError::Api(api),
            ..
        } = self
        else {
            return None;
        };
        let a = api.attempt_error();
        Some(Signature {
            status: a.and_then(|a| a.status()),
            error_type: a.map_or_else(|| FailureKind::Api.as_str().to_owned(), |a| a.error_type()),
            cause: a.and_then(|a| a.cause()).map(str::to_owned),
        })
    }

    /// The manifest's account of the failure: kind, envelope, and where it happened.
    pub(in crate::run) fn to_failure(&self) -> UnitFailure {
        let kind = match self {
            UnitError::Page {
                source: PageError::Api(_),
                ..
            } => FailureKind::Api,
            UnitError::Page {
                source: PageError::Invalid(_),
                ..
            } => FailureKind::InvalidPage,
            UnitError::Paginate(_) => FailureKind::Pagination,
            UnitError::Sink(_) => FailureKind::Storage,
        };
        let mut f = UnitFailure::new(kind, chain(self));
        match self {
            UnitError::Page { page, source } => {
                f.page = Some(*page);
                match source {
                    PageError::Api(api) => {
                        if let Some(a) = api.attempt_error() {
                            f.status = a.status();
                            f.error_type = Some(a.error_type());
                            if let Some(env) = a.envelope() {
                                f.title = env.title.clone();
                                f.detail = env.detail.clone();
                                f.instance = env.instance.clone();
                            }
                        }
                    }
                    PageError::Invalid(d) => {
                        f.error_type = Some(kind.as_str().to_owned());
                        f.item = d.item.map(|i| i as u64);
                        f.field = d.field.clone();
                    }
                }
            }
            UnitError::Paginate(_) | UnitError::Sink(_) => {
                f.error_type = Some(kind.as_str().to_owned());
            }
        }
        f
    }
}
