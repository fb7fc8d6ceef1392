-- Experiment tracking, fourth part: logged models (MLflow 3), the models a run produced, and the
-- model registry (registered models, their numbered versions, tags and aliases). A registered
-- model has an id of its own so a rename changes one row; a version is READY when created, as
-- okrflow copies nothing at registration. Legacy stages stay 'None' (read-only, as in MLflow 3).
CREATE TABLE logged_models (
    id                TEXT    PRIMARY KEY,                 -- "m-" and 32 hex characters
    experiment_id     INTEGER NOT NULL REFERENCES experiments (id),
    name              TEXT    NOT NULL,
    artifact_uri      TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('LOGGED_MODEL_PENDING', 'LOGGED_MODEL_READY', 'LOGGED_MODEL_UPLOAD_FAILED')),
    status_message    TEXT,
    model_type        TEXT,
    source_run_id     TEXT    REFERENCES runs (id) ON DELETE SET NULL,
    lifecycle_stage   TEXT    NOT NULL CHECK (lifecycle_stage IN ('active', 'deleted')),
    creation_time     INTEGER NOT NULL,                    -- epoch ms
    last_update_time  INTEGER NOT NULL
);
CREATE INDEX logged_models_experiment ON logged_models (experiment_id, creation_time);
CREATE INDEX logged_models_run ON logged_models (source_run_id);

CREATE TABLE logged_model_params (
    model_id TEXT NOT NULL REFERENCES logged_models (id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);

CREATE TABLE logged_model_tags (
    model_id TEXT NOT NULL REFERENCES logged_models (id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);

-- Metrics logged against a model (log-batch with model_id): the model's latest per key.
CREATE TABLE logged_model_metrics (
    model_id  TEXT    NOT NULL REFERENCES logged_models (id) ON DELETE CASCADE,
    key       TEXT    NOT NULL,
    step      INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    value     REAL    NOT NULL,
    is_nan    INTEGER NOT NULL DEFAULT 0,
    run_id    TEXT,
    PRIMARY KEY (model_id, key)
);

CREATE TABLE run_outputs (
    run_id   TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    model_id TEXT    NOT NULL REFERENCES logged_models (id) ON DELETE CASCADE,
    step     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, model_id)
);

CREATE TABLE registered_models (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT    NOT NULL UNIQUE,
    description      TEXT    NOT NULL DEFAULT '',
    user_id          TEXT    NOT NULL,
    creation_time    INTEGER NOT NULL,
    last_update_time INTEGER NOT NULL
);

CREATE TABLE registered_model_tags (
    model INTEGER NOT NULL REFERENCES registered_models (id) ON DELETE CASCADE,
    key   TEXT    NOT NULL,
    value TEXT    NOT NULL,
    PRIMARY KEY (model, key)
);

CREATE TABLE model_versions (
    model            INTEGER NOT NULL REFERENCES registered_models (id) ON DELETE CASCADE,
    version          INTEGER NOT NULL,
    description      TEXT    NOT NULL DEFAULT '',
    user_id          TEXT    NOT NULL,
    source           TEXT    NOT NULL,
    storage_location TEXT    NOT NULL,                    -- what get-download-uri answers
    run_id           TEXT,
    run_link         TEXT,
    model_id         TEXT,
    creation_time    INTEGER NOT NULL,
    last_update_time INTEGER NOT NULL,
    PRIMARY KEY (model, version)
);
CREATE INDEX model_versions_run ON model_versions (run_id);

CREATE TABLE model_version_tags (
    model   INTEGER NOT NULL,
    version INTEGER NOT NULL,
    key     TEXT    NOT NULL,
    value   TEXT    NOT NULL,
    PRIMARY KEY (model, version, key),
    FOREIGN KEY (model, version) REFERENCES model_versions (model, version) ON DELETE CASCADE
);

CREATE TABLE registered_model_aliases (
    model   INTEGER NOT NULL REFERENCES registered_models (id) ON DELETE CASCADE,
    alias   TEXT    NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (model, alias),
    FOREIGN KEY (model, version) REFERENCES model_versions (model, version) ON DELETE CASCADE
);

-- What a run read (log-inputs): datasets with their tags (JSON, e.g. mlflow.data.context), and
-- logged models it used.
CREATE TABLE run_dataset_inputs (
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    source_type TEXT NOT NULL,
    source      TEXT NOT NULL,
    schema      TEXT,
    profile     TEXT,
    tags        TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (run_id, name, digest)
);

CREATE TABLE run_model_inputs (
    run_id   TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    model_id TEXT NOT NULL REFERENCES logged_models (id) ON DELETE CASCADE,
    PRIMARY KEY (run_id, model_id)
);
