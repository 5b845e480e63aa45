//! The binary's logging: text or JSON lines on stderr, filtered by `RUST_LOG` through
//! tracing-subscriber's `Targets` (levels and `TARGET=LEVEL` lists; no regex engine). Set once,
//! by `main`, before a command does anything worth logging.

use postpress_etl::cli::LogFormat;

/// Logs to stderr, as text or JSON lines, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::prelude::*;
    let (filter, refused) = log_filter(std::env::var("RUST_LOG").ok().as_deref(), "info");
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry
            .with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .init(),
        LogFormat::Text => registry
            .with(layer.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())))
            .init(),
    }
    if let Some(e) = refused {
        tracing::warn!(error = %e, "RUST_LOG is not a list of TARGET=LEVEL or LEVEL directives; logging at info.");
    }
}

/// The log filter from `RUST_LOG` (`LEVEL` and `TARGET=LEVEL` directives, comma-separated, e.g.
/// `info,postpress_etl=debug`), else `default`; an unreadable value is returned to be logged.
fn log_filter(
    value: Option<&str>,
    default: &str,
) -> (
    tracing_subscriber::filter::Targets,
    Option<tracing_subscriber::filter::ParseError>,
) {
    use tracing_subscriber::filter::Targets;
    let fallback = || default.parse::<Targets>().unwrap_or_default();
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => (fallback(), None),
        Some(v) => match v.parse::<Targets>() {
            Ok(t) => (t, None),
            Err(e) => (fallback(), Some(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;
    use tracing_subscriber::filter::LevelFilter;

    /// RUST_LOG takes levels and target=level directives; anything else logs at the default and
    /// is reported, never fails the command.
    #[test]
    fn rust_log_directives() {
        let (f, e) = log_filter(Some("warn,postpress_etl::run=debug"), "info");
        assert!(e.is_none());
        assert!(f.would_enable("postpress_etl::run::unit", &Level::DEBUG));
        assert!(!f.would_enable("postpress_etl::sink", &Level::INFO));
        assert!(f.would_enable("reqwest", &Level::WARN));

        let (f, e) = log_filter(None, "info");
        assert!(e.is_none());
        assert_eq!(f.default_level(), Some(LevelFilter::INFO));

        let (f, e) = log_filter(Some("postpress_etl=loud"), "info");
        assert!(e.is_some(), "an unknown level is reported");
        assert_eq!(f.default_level(), Some(LevelFilter::INFO));
    }
}
