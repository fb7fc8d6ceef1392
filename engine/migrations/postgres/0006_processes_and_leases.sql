-- Several okrflow processes over one database. Each registers itself and beats (the Services
-- page lists the live ones); a file being profiled is leased to one process, which renews the
-- lease while it works. A lease that runs out (its process died or hung) is reaped: the file is
-- queued again with the reason, or failed once its attempts are used up. Same as SQLite's 0006.
CREATE TABLE processes (
    id           TEXT   PRIMARY KEY,                  -- '<pid>-<random>', new at every start
    host         TEXT   NOT NULL,
    pid          BIGINT NOT NULL,
    role         TEXT   NOT NULL,                     -- 'serve' | 'worker'
    version      TEXT   NOT NULL,
    address      TEXT   NOT NULL DEFAULT '',          -- where a server listens
    runs_jobs    BIGINT NOT NULL DEFAULT 1,
    started_ms   BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL
);

ALTER TABLE files ADD COLUMN lease_owner TEXT;         -- processes.id of the profiling process
ALTER TABLE files ADD COLUMN lease_expires_ms BIGINT;  -- unless renewed by then
CREATE INDEX files_status ON files (status, uploaded_at_ms);
