//! Tests of the unit lifecycle's pure parts: what counts as a refused cursor.

use super::*;
use crate::api::error::AttemptError;
use crate::model::Dataset;
use crate::schema::decode::DecodeError;

fn api(status: u16) -> UnitError {
    UnitError::Page {
        page: 7,
        source: PageError::Api(ApiError::Rejected {
            attempts: 1,
            source: AttemptError::Status {
                status,
                envelope: None,
                retry_after: None,
            },
        }),
    }
}

fn invalid(item: Option<usize>) -> UnitError {
    UnitError::Page {
        page: 7,
        source: PageError::Invalid(DecodeError {
            account_id: "a".into(),
            dataset: Dataset::Followers,
            page: 7,
            item,
            field: None,
            problem: "object is \"UserList\", expected \"UserFollowersList\"".into(),
        }),
    }
}

/// What counts as the API refusing a checkpoint's cursor: a 400, or a page that is not the
/// list (no item at fault); not another status, a bad item, or a stop.
#[test]
fn refused_cursors() {
    assert!(api(400).is_refused_cursor());
    assert!(!api(404).is_refused_cursor());
    assert!(invalid(None).is_refused_cursor());
    assert!(!invalid(Some(3)).is_refused_cursor());
    let stop = UnitError::Page {
        page: 7,
        source: PageError::Api(ApiError::Cancelled),
    };
    assert!(!stop.is_refused_cursor());
}
