-- Charts sample a metric by step (one point per bucket of steps): with the points in step order
-- per run and key, each bucket's first point is one index seek, so a chart of a million points
-- reads about as many rows as it draws.
CREATE INDEX run_metrics_steps ON run_metrics (run_id, key, step);
