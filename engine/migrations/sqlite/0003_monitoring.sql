-- The metric history: one row per metric and minute, kept seven days (the Monitoring charts'
-- 24 h and 7 d ranges). t_ms is the minute's start.
CREATE TABLE metric_minutes (
    metric TEXT    NOT NULL,
    t_ms   INTEGER NOT NULL,
    avg    REAL    NOT NULL,
    min    REAL    NOT NULL,
    max    REAL    NOT NULL,
    PRIMARY KEY (metric, t_ms)
) WITHOUT ROWID;
CREATE INDEX metric_minutes_t ON metric_minutes (t_ms);

-- External dependencies the user asked okrflow to watch (the Services page).
-- kind: 'tcp' (target host:port) or 'http' (target URL, expected_status).
CREATE TABLE service_checks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    kind            TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    expected_status INTEGER,
    interval_secs   INTEGER NOT NULL,
    timeout_ms      INTEGER NOT NULL,
    created_by      TEXT    NOT NULL,
    created_ms      INTEGER NOT NULL
);
