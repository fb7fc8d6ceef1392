-- Experiment tracking (MLflow-compatible), first part: experiments and their tags. Experiment 0,
-- "Default", always exists (MLflow clients log there when no experiment was chosen): made at
-- start by the engine, not here, so that `okrflow db copy` finds a freshly migrated target empty. Names are
-- unique and case-sensitive, as in MLflow; deletion is soft (lifecycle_stage).
CREATE TABLE experiments (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT    NOT NULL UNIQUE,
    artifact_location TEXT    NOT NULL,
    lifecycle_stage   TEXT    NOT NULL CHECK (lifecycle_stage IN ('active', 'deleted')),
    creation_time     INTEGER NOT NULL,                  -- epoch ms
    last_update_time  INTEGER NOT NULL
);

CREATE TABLE experiment_tags (
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    key           TEXT    NOT NULL,
    value         TEXT    NOT NULL,
    PRIMARY KEY (experiment_id, key)
);
