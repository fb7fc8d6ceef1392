-- Warnings and errors captured from tracing, kept so they outlive a restart (the Logs page).
-- level: 0 trace, 1 debug, 2 info, 3 warn, 4 error.
CREATE TABLE log_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms   INTEGER NOT NULL,
    level   INTEGER NOT NULL,
    target  TEXT    NOT NULL,
    message TEXT    NOT NULL,
    fields  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX log_events_ts ON log_events (ts_ms);
