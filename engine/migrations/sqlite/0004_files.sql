-- Files people upload and the outputs okrflow makes from them. `id` is chosen by the server and
-- is also the file's name on disk under <data_dir>/files; `name` is the cleaned original name,
-- shown and suggested on download, never used as a path.
CREATE TABLE files (
    id               TEXT    PRIMARY KEY,
    name             TEXT    NOT NULL,
    kind             TEXT    NOT NULL,                  -- FileKind, e.g. 'csv'
    size_bytes       INTEGER NOT NULL,
    sha256           TEXT    NOT NULL,
    uploaded_by      TEXT    NOT NULL,
    uploaded_at_ms   INTEGER NOT NULL,
    -- Outputs: the file they were made from (kept if the source is deleted) and how.
    source_id        TEXT,
    source_name      TEXT,
    conversion       TEXT,                              -- 'parquet' | 'clean_csv'
    status           TEXT    NOT NULL CHECK (status IN ('queued', 'profiling', 'ready', 'failed')),
    status_message   TEXT,
    profiled_ms      INTEGER,                           -- how long the last profile took
    profile_json     TEXT,
    rows             INTEGER,
    columns          INTEGER,
    downloads        INTEGER NOT NULL DEFAULT 0,
    last_download_ms INTEGER,
    last_download_by TEXT
);
CREATE INDEX files_sha256 ON files (sha256);
CREATE INDEX files_uploaded ON files (uploaded_at_ms);
CREATE INDEX files_source ON files (source_id);

-- Every download, for the page's "recent downloads" (the counters above are its totals).
CREATE TABLE file_downloads (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id   TEXT    NOT NULL,
    file_name TEXT    NOT NULL,
    at_ms     INTEGER NOT NULL,
    by_user   TEXT    NOT NULL
);
CREATE INDEX file_downloads_at ON file_downloads (at_ms);
