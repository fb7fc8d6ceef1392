//! What the tracking pages ask for beyond MLflow's API: experiments with their run counts and
//! last activity, the keys a runs table can offer as columns (each one aggregated query), a
//! run with its parent, children and models, and previews of artifact files.

use std::collections::HashMap;

use sqlx::Row;

use super::{Tracking, TrackingError};
use crate::accounts::Role;
use crate::actor::Actor;
use crate::db::Sql;
use crate::tracking::{
    ArtifactPreview, ExperimentQuery, ExperimentSummary, PreviewBody, RunColumns, RunDetail, RunLink, RunStatus,
    ViewType, MAX_SEARCH_RESULTS,
};

/// How many of an experiment's latest runs the column chooser looks at, and how many keys of
/// each kind it offers: enough for any real experiment, bounded for one with 100,000 runs.
const COLUMN_RUNS: i64 = 1_000;
const COLUMN_KEYS: i64 = 500;
/// Children, logged models and versions a Run page lists at most.
const RELATED: i64 = 200;
/// How much of an artifact a preview reads, and how many rows of a table it shows.
pub const PREVIEW_BYTES: usize = 1 << 20;
pub const PREVIEW_IMAGE_BYTES: usize = 4 << 20;
pub const PREVIEW_ROWS: usize = 200;

impl Tracking {
    /// Every experiment of a view (active by default), newest change first, each with its run
    /// count, running runs and last activity, counted in one query over all of them.
    pub async fn experiment_summaries(
        &self,
        actor: &Actor,
        view_type: ViewType,
    ) -> Result<Vec<ExperimentSummary>, TrackingError> {
        let q = ExperimentQuery {
            view_type,
            max_results: Some(MAX_SEARCH_RESULTS),
            order_by: vec!["last_update_time DESC".into()],
            ..ExperimentQuery::default()
        };
        let experiments = self.search_experiments(actor, &q).await?.experiments;
        let rows = sqlx::query(
            "SELECT experiment_id, COUNT(*) AS runs, COUNT(CASE WHEN status = 'RUNNING' THEN 1 END) AS running, \
             MAX(CASE WHEN end_time IS NOT NULL AND end_time > start_time THEN end_time ELSE start_time END) AS last \
             FROM runs WHERE lifecycle_stage = 'active' GROUP BY experiment_id",
        )
        .fetch_all(self.db.pool())
        .await?;
        let mut counts: HashMap<String, (i64, i64, i64)> = HashMap::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("experiment_id")?;
            counts.insert(id.to_string(), (row.try_get("runs")?, row.try_get("running")?, row.try_get("last")?));
        }
        let mut out: Vec<ExperimentSummary> = experiments
            .into_iter()
            .map(|experiment| {
                let (runs, running, last) = counts.get(&experiment.experiment_id).copied().unwrap_or((0, 0, 0));
                let last_activity = last.max(experiment.last_update_time);
                ExperimentSummary { experiment, runs, running, last_activity }
            })
            .collect();
        out.sort_by(|a, b| {
            b.last_activity.cmp(&a.last_activity).then_with(|| a.experiment.name.cmp(&b.experiment.name))
        });
        Ok(out)
    }

    /// The param, metric and tag keys of an experiment's latest runs, sorted, for the runs
    /// table's column chooser.
    pub async fn run_columns(&self, actor: &Actor, experiment_id: &str) -> Result<RunColumns, TrackingError> {
        actor.require(Role::Viewer)?;
        let experiment = self.existing(experiment_id).await?;
        let id: i64 = experiment.experiment_id.parse().unwrap_or_default();
        let keys = |table: &str| {
            let mut sql = Sql::new(format!(
                "SELECT DISTINCT k.key FROM {table} k WHERE k.run_id IN \
                 (SELECT r.id FROM runs r WHERE r.experiment_id = "
            ));
            sql.bind(id);
            sql.push(" AND r.lifecycle_stage = 'active' ORDER BY r.start_time DESC LIMIT ");
            sql.bind(COLUMN_RUNS);
            sql.push(") ORDER BY k.key LIMIT ");
            sql.bind(COLUMN_KEYS);
            sql
        };
        let read = |rows: Vec<sqlx::any::AnyRow>| -> Result<Vec<String>, sqlx::Error> {
            rows.iter().map(|r| r.try_get::<String, _>(0)).collect()
        };
        let params = read(keys("run_params").fetch_all(&self.db).await?)?;
        let metrics = read(keys("latest_metrics").fetch_all(&self.db).await?)?;
        let tags = read(keys("run_tags").fetch_all(&self.db).await?)?;
        Ok(RunColumns { params, metrics, tags })
    }

    /// A run with its experiment, parent, children (newest last), the logged models it made or
    /// used and the registered versions made from it.
    pub async fn run_detail(&self, actor: &Actor, id: &str) -> Result<RunDetail, TrackingError> {
        let run = self.run(actor, id).await?;
        let experiment = self.existing(&run.info.experiment_id).await?;
        let link = |row: &sqlx::any::AnyRow| -> Result<RunLink, sqlx::Error> {
            let status: String = row.try_get("status")?;
            Ok(RunLink {
                run_id: row.try_get("id")?,
                run_name: row.try_get("name")?,
                experiment_id: row.try_get::<i64, _>("experiment_id")?.to_string(),
                status: RunStatus::parse(&status).unwrap_or(RunStatus::Running),
            })
        };
        const LINK: &str = "SELECT id, name, experiment_id, status FROM runs";
        let parent = match run.data.tags.iter().find(|t| t.key == crate::tracking::PARENT_RUN_TAG) {
            Some(tag) => sqlx::query(&format!("{LINK} WHERE id = $1"))
                .bind(&tag.value)
                .fetch_optional(self.db.pool())
                .await?
                .map(|row| link(&row))
                .transpose()?,
            None => None,
        };
        let children = sqlx::query(&format!(
            "{LINK} WHERE parent_run_id = $1 AND lifecycle_stage = 'active' ORDER BY start_time, id LIMIT $2"
        ))
        .bind(&run.info.run_id)
        .bind(RELATED)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(link)
        .collect::<Result<Vec<_>, _>>()?;
        let model_ids: Vec<String> = sqlx::query(
            "SELECT id FROM logged_models WHERE source_run_id = $1 AND lifecycle_stage = 'active' \
             UNION SELECT model_id FROM run_outputs WHERE run_id = $1 \
             UNION SELECT model_id FROM run_model_inputs WHERE run_id = $1 LIMIT $2",
        )
        .bind(&run.info.run_id)
        .bind(RELATED)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
        let mut logged_models = Vec::with_capacity(model_ids.len());
        for model in &model_ids {
            if let Ok(m) = self.existing_logged_model(model, false).await {
                logged_models.push(m);
            }
        }
        logged_models.sort_by_key(|m| m.info.creation_timestamp_ms);
        let filter = format!("run_id = '{}'", run.info.run_id);
        let versions = self.search_model_versions(actor, Some(&filter), Some(RELATED), &[], None).await?.model_versions;
        Ok(RunDetail { run, experiment, parent, children, logged_models, versions })
    }

    /// A registered model with all its versions, newest first (at most 10,000).
    pub async fn model_detail(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<(crate::tracking::RegisteredModel, Vec<crate::tracking::ModelVersion>), TrackingError> {
        use crate::tracking::filter::Op;
        use crate::tracking::registry::{self, VersionField};
        let model = self.registered_model(actor, name).await?;
        let clauses = [(VersionField::Column("r.name"), Op::Eq, vec![model.name.clone()])];
        let (versions, _) = registry::search_versions(&self.db, &clauses, &[("v.version", false)], 0, 10_000).await?;
        Ok((model, versions))
    }

    /// The start of an artifact file of a run (`path` relative to its artifact folder) as the
    /// page shows it: text (JSON pretty-printed), CSV/TSV as a table, an image, or why not.
    pub async fn preview_artifact(
        &self,
        actor: &Actor,
        run_id: &str,
        path: &str,
    ) -> Result<ArtifactPreview, TrackingError> {
        use futures::StreamExt;
        let run = self.run(actor, run_id).await?;
        let root = run.info.artifact_uri.strip_prefix("mlflow-artifacts:/").unwrap_or(&run.info.artifact_uri);
        if path.starts_with('/') {
            return Err(TrackingError::Invalid(format!(
                "artifact path '{}' must be relative to the run's artifact folder",
                crate::accounts::audit::bounded(path, 200)
            )));
        }
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            return Err(TrackingError::Invalid("path must name an artifact file".into()));
        }
        let image = image_type(path);
        let limit = if image.is_some() { PREVIEW_IMAGE_BYTES } else { PREVIEW_BYTES };
        let mut stream = self.artifact(actor, &format!("{root}/{path}")).await?;
        let mut head: Vec<u8> = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| TrackingError::Store(e.to_string(), crate::error::ErrorKind::Unavailable))?;
            let room = limit - head.len();
            if chunk.len() > room {
                head.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            head.extend_from_slice(&chunk);
        }
        let body = preview_body(path, &head, truncated, image);
        Ok(ArtifactPreview { path: path.to_string(), bytes: head.len() as u64, truncated, body })
    }
}

/// The MIME type of an image the page can show, by the file's extension.
fn image_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        _ => return None,
    })
}

fn preview_body(path: &str, head: &[u8], truncated: bool, image: Option<&'static str>) -> PreviewBody {
    use base64::Engine as _;
    if let Some(mime) = image {
        if truncated {
            return PreviewBody::None {
                reason: format!("the image is larger than {} MiB; download it to see it", PREVIEW_IMAGE_BYTES >> 20),
            };
        }
        let data = base64::engine::general_purpose::STANDARD.encode(head);
        return PreviewBody::Image { data_url: format!("data:{mime};base64,{data}") };
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    // A cut may fall inside a UTF-8 sequence: keep what decodes.
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) if truncated && e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
        Err(_) => return PreviewBody::None { reason: "a binary file; download it to open it".into() },
    };
    if text.contains('\0') {
        return PreviewBody::None { reason: "a binary file; download it to open it".into() };
    }
    match ext.as_str() {
        "csv" | "tsv" => {
            let delimiter = if ext == "tsv" { b'\t' } else { b',' };
            // A cut file ends in a partial record: leave it out.
            let whole = if truncated { text.rsplit_once('\n').map(|(a, _)| a).unwrap_or("") } else { text };
            let mut reader =
                csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(whole.as_bytes());
            let header = match reader.headers() {
                Ok(h) => h.iter().map(str::to_string).collect(),
                Err(e) => return PreviewBody::None { reason: format!("not readable as CSV: {e}") },
            };
            let mut rows = Vec::new();
            for record in reader.records().take(PREVIEW_ROWS) {
                match record {
                    Ok(r) => rows.push(r.iter().map(str::to_string).collect()),
                    Err(e) => return PreviewBody::None { reason: format!("not readable as CSV: {e}") },
                }
            }
            PreviewBody::Table { header, rows }
        }
        "json" => {
            let pretty = (!truncated)
                .then(|| serde_json::from_str::<serde_json::Value>(text).ok())
                .flatten()
                .and_then(|v| serde_json::to_string_pretty(&v).ok());
            PreviewBody::Text { text: pretty.unwrap_or_else(|| text.to_string()), syntax: "json".into() }
        }
        "yaml" | "yml" => PreviewBody::Text { text: text.to_string(), syntax: "yaml".into() },
        _ if name == "MLmodel" => PreviewBody::Text { text: text.to_string(), syntax: "yaml".into() },
        _ => PreviewBody::Text { text: text.to_string(), syntax: "text".into() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_read_files_by_kind() {
        let table = preview_body("data/x.csv", b"a,b\n1,2\n3,4\n", false, None);
        assert_eq!(
            table,
            PreviewBody::Table {
                header: vec!["a".into(), "b".into()],
                rows: vec![vec!["1".into(), "2".into()], vec!["3".into(), "4".into()]]
            }
        );
        let cut = preview_body("x.tsv", b"a\tb\n1\t2\n3\t", true, None);
        assert_eq!(
            cut,
            PreviewBody::Table { header: vec!["a".into(), "b".into()], rows: vec![vec!["1".into(), "2".into()]] }
        );
        match preview_body("m.json", br#"{"a":[1,2]}"#, false, None) {
            PreviewBody::Text { text, syntax } => assert_eq!((text.lines().count(), syntax.as_str()), (6, "json")),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(preview_body("model/MLmodel", b"flavors: {}", false, None), PreviewBody::Text { syntax, .. } if syntax == "yaml")
        );
        assert!(matches!(preview_body("w.bin", b"\x00\x01\xff", false, None), PreviewBody::None { .. }));
        // A cut inside a multi-byte character keeps the text before it.
        let e_acute = "caf\u{e9}".as_bytes();
        assert!(
            matches!(preview_body("n.txt", &e_acute[..4], true, None), PreviewBody::Text { text, .. } if text == "caf")
        );
        let png = preview_body("plot.PNG", b"\x89PNG", false, image_type("plot.PNG"));
        assert_eq!(png, PreviewBody::Image { data_url: "data:image/png;base64,iVBORw==".into() });
        assert!(matches!(preview_body("big.png", b"x", true, Some("image/png")), PreviewBody::None { .. }));
    }
}
