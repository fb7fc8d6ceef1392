//! The ring of recent log entries kept in memory, shared by the capture layer and the Logs page.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use super::{LogEntry, LogQuery};

/// A bounded, shared ring of the newest log entries. Cloning shares the same ring.
#[derive(Clone)]
pub struct LogBuffer {
    inner: Arc<Mutex<Ring>>,
}

struct Ring {
    entries: VecDeque<LogEntry>,
    capacity: usize,
    next_id: u64,
}

impl LogBuffer {
    /// The default number of entries kept: enough for an hour of a busy server's info logs.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        LogBuffer {
            inner: Arc::new(Mutex::new(Ring {
                entries: VecDeque::with_capacity(capacity.min(1024)),
                capacity,
                next_id: 1,
            })),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic while holding the lock leaves a ring that is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds an entry, giving it the next id (the entry's own id is ignored); evicts the oldest
    /// when full. Returns the id given.
    pub fn push(&self, mut entry: LogEntry) -> u64 {
        let mut ring = self.ring();
        entry.id = ring.next_id;
        ring.next_id += 1;
        if ring.entries.len() == ring.capacity {
            ring.entries.pop_front();
        }
        let id = entry.id;
        ring.entries.push_back(entry);
        id
    }

    /// Entries matching the query, newest first.
    pub fn query(&self, query: &LogQuery) -> Vec<LogEntry> {
        let after = query.after_id.unwrap_or(0);
        let ring = self.ring();
        ring.entries
            .iter()
            .rev()
            .take_while(|e| e.id > after)
            .filter(|e| e.matches(query))
            .take(query.effective_limit())
            .cloned()
            .collect()
    }

    /// The id of the newest entry, 0 when none has been captured.
    pub fn latest_id(&self) -> u64 {
        self.ring().next_id - 1
    }

    pub fn len(&self) -> usize {
        self.ring().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.ring().capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::LogLevel;

    fn entry(level: LogLevel, message: &str) -> LogEntry {
        LogEntry { id: 0, ts_ms: 0, level, target: "t".into(), message: message.into(), fields: String::new() }
    }

    #[test]
    fn keeps_only_the_newest_up_to_capacity() {
        let buf = LogBuffer::new(3);
        for i in 0..5 {
            buf.push(entry(LogLevel::Info, &format!("m{i}")));
        }
        let all = buf.query(&LogQuery::default());
        let messages: Vec<_> = all.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["m4", "m3", "m2"]);
        assert_eq!(buf.latest_id(), 5);
        assert_eq!(buf.len(), 3);
    }

    #[test]
    fn after_id_returns_only_newer_entries() {
        let buf = LogBuffer::new(10);
        let first = buf.push(entry(LogLevel::Info, "old"));
        buf.push(entry(LogLevel::Info, "new"));
        let q = LogQuery { after_id: Some(first), ..Default::default() };
        let got = buf.query(&q);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message, "new");
    }

    #[test]
    fn filters_and_limit_apply_together() {
        let buf = LogBuffer::new(100);
        for i in 0..10 {
            let level = if i % 2 == 0 { LogLevel::Warn } else { LogLevel::Info };
            buf.push(entry(level, &format!("m{i}")));
        }
        let q = LogQuery { min_level: Some(LogLevel::Warn), limit: 2, ..Default::default() };
        let got: Vec<_> = buf.query(&q).into_iter().map(|e| e.message).collect();
        assert_eq!(got, ["m8", "m6"]);
    }
}
