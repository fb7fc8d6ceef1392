-- How often profiling of a file was started since it was (re)queued: a file whose profiler
-- process dies, or whose okrflow stops mid-profile, is tried again only a bounded number of
-- times and then failed with its reason, never queued forever.
ALTER TABLE files ADD COLUMN profile_attempts INTEGER NOT NULL DEFAULT 0;
