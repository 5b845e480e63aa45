//! The API key as a type that cannot leak: no `Serialize`, and `Debug`/`Display` redact it.

use std::fmt;

/// The postpress API key. Only [`ApiKey::expose`] reveals it, to build the request header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key read from the environment or a key file.
    pub fn new(key: String) -> ApiKey {
        ApiKey(key)
    }

    /// The key itself, for the `X-API-KEY` header and nothing else.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**REDACTED**")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Formatting the key in any way never shows it.
    #[test]
    fn debug_and_display_redact() {
        let k = ApiKey::new("pp_live_supersecret".into());
        assert_eq!(format!("{k}"), "**REDACTED**");
        assert_eq!(format!("{k:?}"), "**REDACTED**");
        assert_eq!(format!("{:?}", Some(&k)), "Some(**REDACTED**)");
        assert_eq!(k.expose(), "pp_live_supersecret");
    }
}
