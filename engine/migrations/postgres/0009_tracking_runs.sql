-- Experiment tracking, second part: runs with their params (immutable once logged) and tags.
-- Deletion is soft (lifecycle_stage); a run's parent comes from its mlflow.parentRunId tag.
CREATE TABLE runs (
    id              TEXT   PRIMARY KEY,                 -- 32 hex characters, as MLflow's uuid4().hex
    experiment_id   BIGINT NOT NULL REFERENCES experiments (id),
    name            TEXT   NOT NULL,
    user_id         TEXT   NOT NULL,
    status          TEXT   NOT NULL CHECK (status IN ('RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED')),
    start_time      BIGINT NOT NULL,                    -- epoch ms
    end_time        BIGINT,
    artifact_uri    TEXT   NOT NULL,
    lifecycle_stage TEXT   NOT NULL CHECK (lifecycle_stage IN ('active', 'deleted')),
    parent_run_id   TEXT
);
CREATE INDEX runs_experiment ON runs (experiment_id, start_time);

CREATE TABLE run_params (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE run_tags (
    run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);
