//! How fast the tracking pages' queries answer at scale (figures, not pass/fail): one experiment
//! of 100,000 runs, each with 3 params and 3 metrics, and one run with a 1,000,000-point metric,
//! on SQLite in a temporary directory (or the Postgres database OKRFLOW_BENCH_DATABASE names).
//! Prints the median and slowest of 20 calls of each query a page makes.
//!
//! `cargo bench -p okrflow-engine --bench tracking_pages`; OKRFLOW_BENCH_RUNS and
//! OKRFLOW_BENCH_POINTS change the sizes.

use std::time::{Duration, Instant};

use okrflow_engine::accounts::{AuthMethod, Principal, Role};
use okrflow_engine::actor::Actor;
use okrflow_engine::db::Database;
use okrflow_engine::tracking::{Metric, NewRun, RunQuery, Tag, Tracking, ViewType};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn tag(k: &str, v: String) -> Tag {
    Tag { key: k.into(), value: v }
}

async fn timed<T, F, Fut>(label: &str, mut call: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut samples: Vec<Duration> = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        std::hint::black_box(call().await);
        samples.push(start.elapsed());
    }
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label:<58} median {:>8.2} ms   slowest {:>8.2} ms",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1])
    );
}

fn main() {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(bench());
}

async fn bench() {
    let runs = env_usize("OKRFLOW_BENCH_RUNS", 100_000);
    let points = env_usize("OKRFLOW_BENCH_POINTS", 1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let url = std::env::var("OKRFLOW_BENCH_DATABASE")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let db = Database::connect(&url).await.expect("the bench database");
    db.migrate().await.expect("migrations");
    let t = Tracking::open(db.clone()).await.unwrap();
    let who = Principal { user_id: 1, username: "bench".into(), role: Role::Editor, via: AuthMethod::Token };
    let actor = Actor::user(who, "127.0.0.1");

    let exp = t.create_experiment(&actor, &format!("bench-{}", std::process::id()), None, &[]).await.unwrap();
    let seeding = Instant::now();
    let mut ids = Vec::with_capacity(runs);
    for i in 0..runs {
        let new =
            NewRun { experiment_id: exp.clone(), start_time: Some(1_700_000_000_000 + i as i64), ..NewRun::default() };
        let id = t.create_run(&actor, &new).await.unwrap().info.run_id;
        let metrics: Vec<Metric> = ["auc", "loss", "f1"]
            .iter()
            .enumerate()
            .map(|(k, key)| Metric {
                key: key.to_string(),
                value: ((i * 7919 + k * 104_729) % 10_000) as f64 / 10_000.0,
                timestamp: 1,
                step: 0,
                ..Metric::default()
            })
            .collect();
        let params = [
            tag("depth", (i % 12).to_string()),
            tag("model", ["forest", "logistic", "boost"][i % 3].into()),
            tag("seed", i.to_string()),
        ];
        t.log_batch(&actor, &id, &metrics, &params, &[]).await.unwrap();
        ids.push(id);
    }
    println!("seeded {runs} runs with 3 params and 3 metrics each in {:.1} s", seeding.elapsed().as_secs_f64());

    let long = ids[0].clone();
    let seeding = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    for step in 0..points {
        batch.push(Metric {
            key: "curve".into(),
            value: (step as f64 / 1000.0).sin(),
            timestamp: step as i64,
            step: step as i64,
            ..Metric::default()
        });
        if batch.len() == 1000 {
            t.log_batch(&actor, &long, &batch, &[], &[]).await.unwrap();
            batch.clear();
        }
    }
    if !batch.is_empty() {
        t.log_batch(&actor, &long, &batch, &[], &[]).await.unwrap();
    }
    println!("seeded {points} points of one metric in {:.1} s\n", seeding.elapsed().as_secs_f64());

    let query = |filter: &str, order: &str, max: i64, token: Option<String>| RunQuery {
        experiment_ids: vec![exp.clone()],
        filter: Some(filter.to_string()).filter(|f| !f.is_empty()),
        view_type: ViewType::ActiveOnly,
        max_results: Some(max),
        order_by: Some(order.to_string()).filter(|o| !o.is_empty()).into_iter().collect(),
        page_token: token,
    };
    timed("Experiments list (summaries of every experiment)", || t.experiment_summaries(&actor, ViewType::ActiveOnly))
        .await;
    timed("runs table: column chooser keys", || t.run_columns(&actor, &exp)).await;
    let (newest, by_metric) = (query("", "", 50, None), query("", "metrics.`auc` DESC", 50, None));
    let filtered = query("metrics.auc > 0.9", "params.`depth` ASC", 50, None);
    timed("runs table: first page of 50, newest first", || t.search_runs(&actor, &newest)).await;
    timed("runs table: first page of 50 by metrics.auc DESC", || t.search_runs(&actor, &by_metric)).await;
    timed("runs table: 50 of metrics.auc > 0.9 by params.depth", || t.search_runs(&actor, &filtered)).await;
    // The token of the page halfway down, walked to in pages of 5,000 (tokens carry the offset).
    let mut token = None;
    for _ in 0..(runs / 2 / 5000) {
        token = t.search_runs(&actor, &query("", "", 5000, token.clone())).await.unwrap().next_page_token;
    }
    let half = runs / 2;
    let deep = query("", "", 50, token);
    timed(&format!("runs table: page of 50 at run {half}, newest first"), || t.search_runs(&actor, &deep)).await;
    timed("Run page: the run with parent, children and models", || t.run_detail(&actor, &long)).await;
    timed(&format!("Run page: chart of {points} points sampled to 500"), || {
        t.metric_history_sampled(&actor, std::slice::from_ref(&long), "curve", (None, None), Some(500))
    })
    .await;
    timed("Compare: charts of 2 runs' auc", || {
        t.metric_history_sampled(&actor, &ids[..2], "auc", (None, None), Some(500))
    })
    .await;
}
