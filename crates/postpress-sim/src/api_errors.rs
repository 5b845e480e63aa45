//! The documented error types of the postpress API, in one table.
//!
//! Owns the 34 `errors/...` types of the docs' error tables (list-followers.txt and
//! list-followed-accounts.txt carry the same tables) with their HTTP status, a short title and
//! the docs' own sentence as `detail`, plus the simulator's own 400 and 429 types. It must not
//! know when an error is served: that is `server`'s and `fault`'s business.

/// One documented error type: what the envelope of that error carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiErrorType {
    /// The envelope's `type`, e.g. `errors/provider_error`.
    pub kind: &'static str,
    /// The HTTP status and the envelope's `status`.
    pub status: u16,
    /// The envelope's `title`.
    pub title: &'static str,
    /// The envelope's `detail`: the docs' description of the type.
    pub detail: &'static str,
}

const fn e(
    kind: &'static str,
    status: u16,
    title: &'static str,
    detail: &'static str,
) -> ApiErrorType {
    ApiErrorType {
        kind,
        status,
        title,
        detail,
    }
}

/// Every error type of the docs' tables, in the docs' order (401, 403, 404, 500, 501, 503, 504).
pub const ERROR_TYPES: [ApiErrorType; 34] = [
    e(
        "errors/missing_credentials",
        401,
        "Missing credentials",
        "Some credentials are necessary to perform the request.",
    ),
    e(
        "errors/multiple_sessions",
        401,
        "Multiple sessions",
        "LinkedIn limits multiple sessions on certain Recruiter accounts. Use the cookie connection method.",
    ),
    e(
        "errors/invalid_checkpoint_solution",
        401,
        "Invalid checkpoint solution",
        "The checkpoint resolution did not pass successfully. Retry.",
    ),
    e(
        "errors/invalid_proxy_credentials",
        401,
        "Invalid proxy credentials",
        "The provided proxy credentials are invalid.",
    ),
    e(
        "errors/checkpoint_error",
        401,
        "Checkpoint error",
        "The checkpoint does not appear to be resolvable.",
    ),
    e(
        "errors/invalid_credentials",
        401,
        "Invalid credentials",
        "The provided credentials are invalid.",
    ),
    e(
        "errors/expired_credentials",
        401,
        "Expired credentials",
        "Credentials have expired. Reconnect the account.",
    ),
    e(
        "errors/insufficient_privileges",
        401,
        "Insufficient privileges",
        "This resource is out of your API-key scopes.",
    ),
    e(
        "errors/disconnected_account",
        401,
        "Disconnected account",
        "The account is disconnected from the provider service.",
    ),
    e(
        "errors/disconnected_feature",
        401,
        "Disconnected feature",
        "The service you're trying to reach is disconnected.",
    ),
    e(
        "errors/invalid_credentials_but_valid_account_imap",
        401,
        "Invalid credentials but valid account IMAP",
        "IMAP/SMTP credentials are invalid but the account is otherwise valid.",
    ),
    e(
        "errors/expired_link",
        401,
        "Expired link",
        "This link has expired. Generate a new one.",
    ),
    e(
        "errors/wrong_account",
        401,
        "Wrong account",
        "The provided credentials do not match the correct account.",
    ),
    e(
        "errors/account_restricted",
        403,
        "Account restricted",
        "The account has been restricted by the provider.",
    ),
    e(
        "errors/account_mismatch",
        403,
        "Account mismatch",
        "This action cannot be done with your account.",
    ),
    e(
        "errors/insufficient_permissions",
        403,
        "Insufficient permissions",
        "Valid authentication but insufficient permissions to perform the request.",
    ),
    e(
        "errors/session_mismatch",
        403,
        "Session mismatch",
        "Token user id does not match client session id.",
    ),
    e(
        "errors/feature_not_subscribed",
        403,
        "Feature not subscribed",
        "The requested feature has not been subscribed or authenticated properly.",
    ),
    e(
        "errors/subscription_required",
        403,
        "Subscription required",
        "A subscription is required to use this feature.",
    ),
    e(
        "errors/unknown_authentication_context",
        403,
        "Unknown authentication context",
        "An additional step seems necessary to complete login.",
    ),
    e(
        "errors/action_required",
        403,
        "Action required",
        "An additional step is required.",
    ),
    e(
        "errors/resource_access_restricted",
        403,
        "Resource access restricted",
        "You don't have access to this resource.",
    ),
    e(
        "errors/resource_not_found",
        404,
        "Resource not found",
        "The requested resource was not found.",
    ),
    e(
        "errors/invalid_resource_identifier",
        404,
        "Invalid resource identifier",
        "The provided identifier is not valid.",
    ),
    e(
        "errors/unexpected_error",
        500,
        "Unexpected error",
        "Something went wrong.",
    ),
    e(
        "errors/provider_error",
        500,
        "Provider error",
        "The provider is experiencing operational problems. Retry later.",
    ),
    e(
        "errors/authentication_intent_error",
        500,
        "Authentication intent error",
        "The current authentication intent was killed after failure.",
    ),
    e(
        "errors/feature_not_implemented",
        501,
        "Feature not implemented",
        "This feature has not been implemented yet.",
    ),
    e(
        "errors/no_client_session",
        503,
        "No client session",
        "No client session is currently running.",
    ),
    e(
        "errors/no_channel",
        503,
        "No channel",
        "No channel to client session.",
    ),
    e(
        "errors/no_handler",
        503,
        "No handler",
        "Handler missing for that request.",
    ),
    e(
        "errors/network_down",
        503,
        "Network down",
        "Network is down on the server side. Retry shortly.",
    ),
    e(
        "errors/service_unavailable",
        503,
        "Service unavailable",
        "Service temporarily unavailable. Retry later.",
    ),
    e(
        "errors/request_timeout",
        504,
        "Request timeout",
        "Request timed out. Retry, and contact support if it persists.",
    ),
];

/// The type of every 400 the simulator sends (bad `limit`, `cursor`, missing `account_id`).
pub const INVALID_REQUEST: &str = "errors/invalid_request";

/// The type of the simulator's 429s; the docs' tables have none, providers do send them.
pub const TOO_MANY_REQUESTS: &str = "errors/too_many_requests";

/// Looks a documented type up by its `type` string.
pub fn find(kind: &str) -> Option<&'static ApiErrorType> {
    ERROR_TYPES.iter().find(|t| t.kind == kind)
}

/// The index of a documented type in [`ERROR_TYPES`].
pub(crate) fn index_of(kind: &str) -> Option<usize> {
    ERROR_TYPES.iter().position(|t| t.kind == kind)
}

pub(crate) const MISSING_CREDENTIALS: usize = 0;
pub(crate) const INVALID_CREDENTIALS: usize = 5;
pub(crate) const RESOURCE_NOT_FOUND: usize = 22;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_docs_counts() {
        // The docs' headings: "401 Unauthorized13 types", "403 Forbidden9 types", ...
        let mut per_status = std::collections::BTreeMap::new();
        for t in &ERROR_TYPES {
            *per_status.entry(t.status).or_insert(0) += 1;
            assert!(t.kind.starts_with("errors/") && t.detail.ends_with('.'));
        }
        let expected = [
            (401, 13),
            (403, 9),
            (404, 2),
            (500, 3),
            (501, 1),
            (503, 5),
            (504, 1),
        ];
        assert_eq!(per_status.into_iter().collect::<Vec<_>>(), expected);
        let mut kinds: Vec<_> = ERROR_TYPES.iter().map(|t| t.kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), ERROR_TYPES.len());
        assert_eq!(
            ERROR_TYPES[MISSING_CREDENTIALS].kind,
            "errors/missing_credentials"
        );
        assert_eq!(
            ERROR_TYPES[INVALID_CREDENTIALS].kind,
            "errors/invalid_credentials"
        );
        assert_eq!(
            ERROR_TYPES[RESOURCE_NOT_FOUND].kind,
            "errors/resource_not_found"
        );
        assert_eq!(find("errors/no_channel").map(|t| t.status), Some(503));
    }
}
