//! Tracing set-up: one subscriber with an env filter, a formatter to stderr (text or JSON), and
//! the capture layer that feeds the Logs page and the stored warnings and errors.

use okrflow_engine::logs::{self, LogBuffer, LogReceiver};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;

/// Installs the global subscriber and returns the log ring buffer and the receiver for the
/// engine's log store. `filter` was validated when the flags were parsed. A second call (tests)
/// keeps the first subscriber and returns a fresh, unconnected buffer.
pub fn init(filter: &str, format: LogFormat) -> (LogBuffer, LogReceiver) {
    let buffer = LogBuffer::new(LogBuffer::DEFAULT_CAPACITY);
    let (capture, receiver) = logs::capture(buffer.clone());
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new(crate::config::DEFAULT_LOG));
    // Colours only for a person at a terminal; pipes and files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(std::io::stderr).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr).boxed(),
    };
    let _ = tracing_subscriber::registry().with(filter).with(fmt).with(capture).try_init();
    (buffer, receiver)
}
