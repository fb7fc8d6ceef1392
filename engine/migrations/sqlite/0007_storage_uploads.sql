-- Multipart uploads to an object store that are under way, by the process writing them: one a
-- killed process left keeps its parts in the bucket until the next process's sweep aborts it
-- from here (S3 has no other way to find them short of listing every upload in the bucket).
CREATE TABLE storage_uploads (
    upload_id TEXT NOT NULL PRIMARY KEY,
    object_key TEXT NOT NULL,
    owner TEXT NOT NULL,
    started_ms INTEGER NOT NULL
);
