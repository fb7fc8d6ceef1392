//! The tracing layer that turns every event into a [`LogEntry`]: all of them into the ring
//! buffer, warnings and errors also onto a channel that the database writer drains.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::{LogBuffer, LogEntry, LogLevel};

/// How many warnings and errors may wait for the database writer before new ones are dropped
/// (and counted) rather than blocking the code that logged them.
const STORE_QUEUE: usize = 4_096;

/// The layer to install in the tracing subscriber.
pub struct LogCapture {
    buffer: LogBuffer,
    to_store: mpsc::Sender<LogEntry>,
    dropped: Arc<AtomicU64>,
}

/// The other end of the capture channel, handed to [`super::LogStore::spawn`].
pub struct LogReceiver {
    pub(crate) rx: mpsc::Receiver<LogEntry>,
    pub(crate) dropped: Arc<AtomicU64>,
}

/// Creates the capture layer over `buffer` and the receiver for the database writer.
pub fn capture(buffer: LogBuffer) -> (LogCapture, LogReceiver) {
    let (tx, rx) = mpsc::channel(STORE_QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    (LogCapture { buffer, to_store: tx, dropped: dropped.clone() }, LogReceiver { rx, dropped })
}

fn level_of(level: &Level) -> LogLevel {
    match *level {
        Level::TRACE => LogLevel::Trace,
        Level::DEBUG => LogLevel::Debug,
        Level::INFO => LogLevel::Info,
        Level::WARN => LogLevel::Warn,
        Level::ERROR => LogLevel::Error,
    }
}

/// Whether an event goes to the database. sqlx's own warnings are left out: they can come from
/// the writer's inserts, and storing them would feed the writer its own output.
fn is_stored(level: LogLevel, target: &str) -> bool {
    level >= LogLevel::Warn && !target.starts_with("sqlx")
}

impl<S: Subscriber> Layer<S> for LogCapture {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut visitor = FieldVisitor::default();
        event.record(&mut visitor);
        let entry = LogEntry {
            id: 0,
            ts_ms: chrono::Utc::now().timestamp_millis(),
            level: level_of(meta.level()),
            target: meta.target().to_string(),
            message: visitor.message,
            fields: visitor.fields,
        };
        if is_stored(entry.level, &entry.target) && self.to_store.try_send(entry.clone()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.buffer.push(entry);
    }
}

#[derive(Default)]
struct FieldVisitor {
    message: String,
    fields: String,
}

impl FieldVisitor {
    fn add(&mut self, field: &Field, value: std::fmt::Arguments<'_>) {
        if field.name() == "message" {
            let _ = self.message.write_fmt(value);
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={}", field.name(), value);
        }
    }
}

impl Visit for FieldVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.add(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.add(field, format_args!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::LogQuery;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn events_land_in_the_buffer_with_message_and_fields() {
        let buffer = LogBuffer::new(100);
        let (layer, mut receiver) = capture(buffer.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(path = "/files", status = 200, "request done");
            tracing::warn!("disk almost full");
        });
        let got = buffer.query(&LogQuery::default());
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].level, LogLevel::Warn);
        assert_eq!(got[0].message, "disk almost full");
        assert_eq!(got[1].message, "request done");
        assert_eq!(got[1].fields, "path=/files status=200");

        // Only the warning is queued for the database.
        let stored = receiver.rx.try_recv().expect("the warning is queued");
        assert_eq!(stored.message, "disk almost full");
        assert!(receiver.rx.try_recv().is_err());
    }

    #[test]
    fn sqlx_warnings_are_not_stored() {
        assert!(!is_stored(LogLevel::Warn, "sqlx::query"));
        assert!(is_stored(LogLevel::Error, "okrflow_server"));
        assert!(!is_stored(LogLevel::Info, "okrflow_server"));
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let buffer = LogBuffer::new(10);
        let (layer, receiver) = capture(buffer);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..STORE_QUEUE + 5 {
                tracing::error!("boom");
            }
        });
        assert_eq!(receiver.dropped.load(Ordering::Relaxed), 5);
    }
}
