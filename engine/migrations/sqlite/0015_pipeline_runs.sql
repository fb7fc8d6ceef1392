-- Pipelines (issue 13), runs: each run of a pipeline with the definition version it used, each
-- task's instance in it (its state, attempts, lease and small JSON output), every attempt with
-- its outcome and log, and each schedule's next time. A task instance is claimed like a file
-- to profile: with a lease its process renews; when the lease runs out the reaper ends the
-- attempt with "lease expired" and retries or fails the task, so no run stays running.
-- The same schema on both backends.
CREATE TABLE pipeline_runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline_id     TEXT    NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    version         INTEGER NOT NULL,                 -- pipeline_versions.version it runs
    state           TEXT    NOT NULL,                 -- queued | running | success | failed | cancelled
    trigger_kind    TEXT    NOT NULL,                 -- schedule | manual | upload | pipeline
    triggered_by    TEXT    NOT NULL,                 -- a user, the schedule, a file, a run
    params_json     TEXT    NOT NULL,                 -- the parameters, defaults filled in
    scheduled_ms    INTEGER NULL,                     -- the cron time of a scheduled run
    max_active_runs INTEGER NOT NULL,
    note            TEXT    NULL,
    created_ms      INTEGER NOT NULL,
    started_ms      INTEGER NULL,
    ended_ms        INTEGER NULL,
    UNIQUE (pipeline_id, scheduled_ms)                -- one run per cron time, however many schedulers
);
CREATE INDEX pipeline_runs_by_pipeline ON pipeline_runs (pipeline_id, id);
CREATE INDEX pipeline_runs_by_state ON pipeline_runs (state, pipeline_id, id);

CREATE TABLE task_instances (
    run_id           INTEGER NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
    task_id          TEXT    NOT NULL,
    position         INTEGER NOT NULL,                -- upstream-first order in the definition
    is_root          INTEGER NOT NULL,                -- 1: no upstream (queued when the run starts)
    timeout_ms       INTEGER NOT NULL DEFAULT 0,      -- per attempt; 0: none
    state            TEXT    NOT NULL,                -- pending | queued | running | success | failed | skipped | upstream_failed | cancelled
    attempts         INTEGER NOT NULL DEFAULT 0,      -- started so far (counted when claimed)
    max_attempts     INTEGER NOT NULL,                -- retries + 1
    ready_ms         INTEGER NOT NULL DEFAULT 0,      -- a queued retry waits until then
    lease_owner      TEXT    NULL,                    -- processes.id running it
    lease_expires_ms INTEGER NULL,
    deadline_ms      INTEGER NULL,                    -- the running attempt's timeout
    started_ms       INTEGER NULL,
    ended_ms         INTEGER NULL,
    message          TEXT    NULL,                    -- why it failed, was skipped or marked
    output_json      TEXT    NULL,                    -- small JSON: counts, paths, decisions
    PRIMARY KEY (run_id, task_id)
);
CREATE INDEX task_instances_claim ON task_instances (state, ready_ms);

CREATE TABLE task_attempts (
    run_id      INTEGER NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
    task_id     TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,                     -- 1, 2, …
    owner       TEXT    NOT NULL,                     -- processes.id that ran it
    state       TEXT    NOT NULL,                     -- running | success | failed | cancelled
    message     TEXT    NULL,
    started_ms  INTEGER NOT NULL,
    ended_ms    INTEGER NULL,
    log_bytes   INTEGER NOT NULL DEFAULT 0,
    log_cut     INTEGER NOT NULL DEFAULT 0,           -- 1: the log reached its cap and was cut
    log_key     TEXT    NULL,                         -- the finished log in the object store
    PRIMARY KEY (run_id, task_id, attempt)
);

-- A running attempt's log as it is written, in chunks any process can read (the page streams
-- them); moved to the object store and deleted when the attempt ends.
CREATE TABLE task_log_chunks (
    run_id   INTEGER NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
    task_id  TEXT    NOT NULL,
    attempt  INTEGER NOT NULL,
    at_byte  INTEGER NOT NULL,                         -- where the chunk starts in the log
    text     TEXT    NOT NULL,
    PRIMARY KEY (run_id, task_id, attempt, at_byte)
);

-- Each scheduled pipeline's next cron time and the last one it ran for; the scheduler moves
-- them on with a compare-and-set, and the runs' unique (pipeline_id, scheduled_ms) makes a
-- time run once even when two schedulers race.
CREATE TABLE pipeline_schedules (
    pipeline_id  TEXT    PRIMARY KEY REFERENCES pipelines (id) ON DELETE CASCADE,
    cron         TEXT    NOT NULL,                    -- the pattern and zone these times are of
    next_ms      INTEGER NULL,
    last_ms      INTEGER NULL
);
