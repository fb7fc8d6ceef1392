-- How often profiling of a file was started since it was (re)queued: a file whose profiler
-- process dies, or whose okrflow stops mid-profile, is tried again only a bounded number of
-- times and then failed with its reason, never queued forever. The same as SQLite's 0005.
ALTER TABLE files ADD COLUMN profile_attempts BIGINT NOT NULL DEFAULT 0;
