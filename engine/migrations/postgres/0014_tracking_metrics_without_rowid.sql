-- SQLite's 0014 packs run_metrics into its primary key (WITHOUT ROWID). Postgres keeps rows in a
-- heap beside its indexes whatever the table says, so the schema stays as 0010 and 0012 made it;
-- this keeps the two backends' migrations numbered alike.
SELECT 1;
