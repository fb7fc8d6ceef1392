//! Log entries: the types the Logs page shows, and (with `runtime`) where they come from.
//!
//! - [`buffer`]: the in-memory ring of recent entries, queried newest first.
//! - [`capture`]: the tracing layer that turns every event into an entry.
//! - [`store`]: the task that keeps warnings and errors in the database, and queries them.

use serde::{Deserialize, Serialize};

#[cfg(feature = "runtime")]
pub mod buffer;
#[cfg(feature = "runtime")]
pub mod capture;
#[cfg(feature = "runtime")]
pub mod store;

#[cfg(feature = "runtime")]
pub use buffer::LogBuffer;
#[cfg(feature = "runtime")]
pub use capture::{capture, LogCapture, LogReceiver};
#[cfg(feature = "runtime")]
pub use store::{LogStore, LogStoreStats};

/// Severity, ordered from least to most severe so that `level >= min` filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub const ALL: [LogLevel; 5] = [LogLevel::Trace, LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        }
    }

    /// Parses "warn", "WARN", "Warning" and the like; `None` for anything else.
    pub fn parse(s: &str) -> Option<LogLevel> {
        match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Some(LogLevel::Trace),
            "debug" => Some(LogLevel::Debug),
            "info" => Some(LogLevel::Info),
            "warn" | "warning" => Some(LogLevel::Warn),
            "error" => Some(LogLevel::Error),
            _ => None,
        }
    }
}

/// One log event as kept in memory, in the database and on the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Increases with every event this process captured; the page asks for entries after the
    /// newest id it has. Ids of stored entries are the database's own.
    pub id: u64,
    /// Milliseconds since the Unix epoch, UTC.
    pub ts_ms: i64,
    pub level: LogLevel,
    /// The module that logged it, e.g. `okrflow_server::startup`.
    pub target: String,
    pub message: String,
    /// The event's other fields as `key=value`, space separated.
    pub fields: String,
}

impl LogEntry {
    /// Whether the entry matches a query's level and text filters (not its id window).
    pub fn matches(&self, query: &LogQuery) -> bool {
        if query.min_level.is_some_and(|min| self.level < min) {
            return false;
        }
        match query.text.as_deref().map(str::trim) {
            None | Some("") => true,
            Some(text) => {
                let needle = text.to_lowercase();
                [&self.message, &self.target, &self.fields].iter().any(|hay| hay.to_lowercase().contains(&needle))
            }
        }
    }
}

/// What the Logs page asks for. Results come newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LogQuery {
    /// Only entries at this level or more severe.
    pub min_level: Option<LogLevel>,
    /// Case-insensitive substring of the message, target or fields.
    pub text: Option<String>,
    /// Only entries newer than this id (for "new ones since I last looked").
    pub after_id: Option<u64>,
    /// At most this many entries; clamped to [`LogQuery::MAX_LIMIT`].
    pub limit: usize,
}

impl LogQuery {
    pub const MAX_LIMIT: usize = 1_000;
    pub const DEFAULT_LIMIT: usize = 200;

    /// The limit actually applied: the default when 0, never above the maximum.
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => Self::DEFAULT_LIMIT,
            n => n.min(Self::MAX_LIMIT),
        }
    }
}

/// "2026-11-26 21:03:05.123 UTC" from Unix milliseconds; deterministic on server and browser.
pub fn format_timestamp(ts_ms: i64) -> String {
    use chrono::{Datelike, Timelike};
    // Field accessors rather than a strftime pattern: the pattern parser would add tens of
    // kilobytes to the browser bundle.
    match chrono::DateTime::from_timestamp_millis(ts_ms) {
        Some(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03} UTC",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.timestamp_subsec_millis()
        ),
        None => format!("{ts_ms} ms (out of range)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(level: LogLevel, message: &str) -> LogEntry {
        LogEntry {
            id: 1,
            ts_ms: 0,
            level,
            target: "okrflow::test".into(),
            message: message.into(),
            fields: "path=/files".into(),
        }
    }

    #[test]
    fn level_filter_keeps_that_level_and_worse() {
        let q = LogQuery { min_level: Some(LogLevel::Warn), ..Default::default() };
        assert!(!entry(LogLevel::Info, "x").matches(&q));
        assert!(entry(LogLevel::Warn, "x").matches(&q));
        assert!(entry(LogLevel::Error, "x").matches(&q));
    }

    #[test]
    fn text_filter_is_case_insensitive_over_message_target_and_fields() {
        let q = |t: &str| LogQuery { text: Some(t.into()), ..Default::default() };
        let e = entry(LogLevel::Info, "Database Ready");
        assert!(e.matches(&q("database ready")));
        assert!(e.matches(&q("OKRFLOW::TEST")));
        assert!(e.matches(&q("/files")));
        assert!(!e.matches(&q("pipeline")));
        assert!(e.matches(&q("   ")), "blank text filters nothing");
    }

    #[test]
    fn levels_parse_from_common_spellings() {
        assert_eq!(LogLevel::parse("Warning"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::parse("ERROR"), Some(LogLevel::Error));
        assert_eq!(LogLevel::parse("loud"), None);
    }

    #[test]
    fn limit_is_defaulted_and_clamped() {
        assert_eq!(LogQuery::default().effective_limit(), LogQuery::DEFAULT_LIMIT);
        let q = LogQuery { limit: 1_000_000, ..Default::default() };
        assert_eq!(q.effective_limit(), LogQuery::MAX_LIMIT);
    }

    #[test]
    fn timestamps_format_in_utc() {
        assert_eq!(format_timestamp(0), "1970-01-01 00:00:00.000 UTC");
        // 2026-11-26 21:03:05.123 UTC
        assert_eq!(format_timestamp(1_795_726_985_123), "2026-11-26 21:03:05.123 UTC");
        assert_eq!(format_timestamp(951_782_400_000), "2000-02-29 00:00:00.000 UTC");
    }
}
