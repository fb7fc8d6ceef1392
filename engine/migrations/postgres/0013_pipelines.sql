-- Pipelines (issue 13), first part: every pipeline okrflow has known (read from a file in
-- <data-dir>/pipelines/ or saved on the page) with its pause switch, and every version of its
-- definition as it was read. A run names the version it used, the page shows any past one, and
-- a worker on another machine reads the definition from here, not from the serve's disk.
-- The same schema on both backends.
CREATE TABLE pipelines (
    id          TEXT    PRIMARY KEY,
    paused      BIGINT NOT NULL DEFAULT 0,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE pipeline_versions (
    pipeline_id TEXT    NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    version     BIGINT NOT NULL,                       -- 1, 2, … per pipeline
    sha256      TEXT    NOT NULL,                       -- of source
    source      TEXT    NOT NULL,                       -- the TOML as read
    saved_by    TEXT    NULL,                           -- who saved it on the page; NULL: read from the file
    created_ms  BIGINT NOT NULL,
    PRIMARY KEY (pipeline_id, version)
);
