-- Experiment tracking, third part: metrics as time series, and the latest value of each key per
-- run (what a run shows and what search filters and sorts on), kept in the same transaction as
-- the points. NaN is stored as value 0 with is_nan = 1 on both backends (SQLite reads a stored NaN
-- as NULL).
-- An identical point logged twice (a client's retry) is kept once, as in MLflow; the key's order is
-- the history's (timestamp, then step), as MLflow answers it.
CREATE TABLE run_metrics (
    run_id    TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key       TEXT    NOT NULL,
    step      INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,                -- epoch ms
    value     REAL    NOT NULL,
    is_nan    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, key, timestamp, step, value, is_nan)
);

CREATE TABLE latest_metrics (
    run_id    TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key       TEXT    NOT NULL,
    step      INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    value     REAL    NOT NULL,
    is_nan    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX latest_metrics_key ON latest_metrics (key, value);

-- Page tokens are signed with this database's own key, so a token cannot be edited into another
-- query (another experiment's runs, another offset); made at start like the Default experiment.
CREATE TABLE tracking_keys (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
