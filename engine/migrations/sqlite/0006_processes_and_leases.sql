-- Several okrflow processes over one database. Each registers itself and beats (the Services
-- page lists the live ones); a file being profiled is leased to one process, which renews the
-- lease while it works. A lease that runs out (its process died or hung) is reaped: the file is
-- queued again with the reason, or failed once its attempts are used up.
CREATE TABLE processes (
    id           TEXT    PRIMARY KEY,                 -- '<pid>-<random>', new at every start
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    role         TEXT    NOT NULL,                    -- 'serve' | 'worker'
    version      TEXT    NOT NULL,
    address      TEXT    NOT NULL DEFAULT '',         -- where a server listens
    runs_jobs    INTEGER NOT NULL DEFAULT 1,
    started_ms   INTEGER NOT NULL,
    heartbeat_ms INTEGER NOT NULL
);

ALTER TABLE files ADD COLUMN lease_owner TEXT;          -- processes.id of the profiling process
ALTER TABLE files ADD COLUMN lease_expires_ms INTEGER;  -- unless renewed by then
CREATE INDEX files_status ON files (status, uploaded_at_ms);

-- Failed logins, counted in the database so every process over it applies the same limits:
-- scope 'account' (key: the normalised user name) or 'address' (key: the client address).
CREATE TABLE login_failures (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT    NOT NULL,
    key   TEXT    NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (scope, key, at_ms);
CREATE INDEX login_failures_at ON login_failures (at_ms);
