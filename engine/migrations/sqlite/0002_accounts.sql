-- Accounts and access: users, server-side sessions, API tokens, and the audit log.
CREATE TABLE users (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    username               TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash          TEXT    NOT NULL,              -- argon2id PHC string
    role                   TEXT    NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    disabled               INTEGER NOT NULL DEFAULT 0,
    created_at_ms          INTEGER NOT NULL,
    password_changed_at_ms INTEGER NOT NULL
);

CREATE TABLE sessions (
    id_hash       TEXT    PRIMARY KEY,                    -- SHA-256 of the cookie value
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    ip            TEXT    NOT NULL DEFAULT '',
    user_agent    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    token_hash    TEXT    NOT NULL UNIQUE,                -- SHA-256 of the token
    prefix        TEXT    NOT NULL,                       -- first characters, for lists
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER,
    last_used_ms  INTEGER,
    revoked_at_ms INTEGER,
    UNIQUE (user_id, name)
);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms   INTEGER NOT NULL,
    actor   TEXT    NOT NULL,                             -- username, or 'anonymous'
    action  TEXT    NOT NULL,                             -- e.g. 'login', 'user.create'
    target  TEXT    NOT NULL DEFAULT '',
    ip      TEXT    NOT NULL DEFAULT '',
    outcome TEXT    NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
    detail  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_ts ON audit_log (ts_ms);
CREATE INDEX audit_log_actor ON audit_log (actor);
