//! What a run's tasks do next, given how their upstream tasks ended: the trigger rules, branch
//! choices and how skips and failures travel downstream. Pure: the run store applies the
//! changes in the transaction that recorded the end that caused them.

use std::collections::HashMap;

use super::{Definition, TaskState, TriggerRule};

/// A task of a run as the rules see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    pub state: TaskState,
    /// For a finished branch task: the downstream tasks it chose.
    pub chose: Option<Vec<String>>,
}

/// A change the rules make to a pending task.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub task: String,
    pub state: TaskState,
    pub message: Option<String>,
}

/// The changes to pending tasks that the states in `seen` call for, following skips and
/// failures downstream until nothing more changes. Tasks without upstreams are queued.
pub fn advance(definition: &Definition, seen: &HashMap<String, Seen>) -> Vec<Change> {
    let mut now: HashMap<&str, TaskState> =
        definition.tasks.iter().filter_map(|t| seen.get(&t.id).map(|s| (t.id.as_str(), s.state))).collect();
    let mut changes = Vec::new();
    loop {
        let mut changed = false;
        // Upstream-first order: one pass settles a chain; the loop catches the rest.
        for task in &definition.tasks {
            if now.get(task.id.as_str()) != Some(&TaskState::Pending) {
                continue;
            }
            let Some((state, message)) = decide(task.trigger_rule, &task.id, &task.upstream, &now, seen) else {
                continue;
            };
            now.insert(task.id.as_str(), state);
            changes.push(Change { task: task.id.clone(), state, message });
            changed = true;
        }
        if !changed {
            return changes;
        }
    }
}

fn decide(
    rule: TriggerRule,
    id: &str,
    upstream: &[String],
    now: &HashMap<&str, TaskState>,
    seen: &HashMap<String, Seen>,
) -> Option<(TaskState, Option<String>)> {
    if upstream.is_empty() {
        return Some((TaskState::Queued, None));
    }
    // A branch that ended without choosing this task skips it, whatever its rule.
    for u in upstream {
        if let Some(Seen { state: TaskState::Success, chose: Some(chose) }) = seen.get(u) {
            if now.get(u.as_str()) == Some(&TaskState::Success) && !chose.iter().any(|c| c == id) {
                return Some((TaskState::Skipped, Some(format!("branch '{u}' chose {}", list(chose)))));
            }
        }
    }
    let states: Vec<(&str, TaskState)> =
        upstream.iter().map(|u| (u.as_str(), now.get(u.as_str()).copied().unwrap_or(TaskState::Pending))).collect();
    let failed: Vec<&str> = states.iter().filter(|(_, s)| counts_as_failed(*s)).map(|(u, _)| *u).collect();
    let all_done = states.iter().all(|(_, s)| s.is_done());
    if rule == TriggerRule::OneFailed && !failed.is_empty() {
        return Some((TaskState::Queued, None));
    }
    if !all_done {
        return None;
    }
    let skipped: Vec<&str> = states.iter().filter(|(_, s)| *s == TaskState::Skipped).map(|(u, _)| *u).collect();
    Some(match rule {
        TriggerRule::AllDone => (TaskState::Queued, None),
        TriggerRule::OneFailed => {
            (TaskState::Skipped, Some("no upstream task failed (trigger rule one_failed)".into()))
        }
        TriggerRule::AllSuccess | TriggerRule::NoneFailed if !failed.is_empty() => {
            (TaskState::UpstreamFailed, Some(format!("upstream {} did not succeed", list(&failed))))
        }
        TriggerRule::AllSuccess if !skipped.is_empty() => {
            (TaskState::Skipped, Some(format!("upstream {} was skipped", list(&skipped))))
        }
        TriggerRule::AllSuccess | TriggerRule::NoneFailed => (TaskState::Queued, None),
    })
}

/// For the rules, a cancelled upstream is one that did not succeed.
fn counts_as_failed(state: TaskState) -> bool {
    state.is_failure() || state == TaskState::Cancelled
}

fn list<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    items.iter().map(|s| format!("'{}'", s.as_ref())).collect::<Vec<_>>().join(", ")
}

/// How a run ends once every task has: failed when one failed (or was cancelled), else success.
pub fn outcome(states: impl IntoIterator<Item = TaskState>) -> Option<super::RunState> {
    let mut failed = false;
    for s in states {
        if !s.is_done() {
            return None;
        }
        failed |= counts_as_failed(s);
    }
    Some(if failed { super::RunState::Failed } else { super::RunState::Success })
}

/// The tasks downstream of `id`, transitively, in the definition's order (what a clear resets).
pub fn downstream_of(definition: &Definition, id: &str) -> Vec<String> {
    let mut reached: std::collections::HashSet<&str> = std::collections::HashSet::from([id]);
    let mut out = Vec::new();
    for task in &definition.tasks {
        if task.id != id && task.upstream.iter().any(|u| reached.contains(u.as_str())) {
            reached.insert(task.id.as_str());
            out.push(task.id.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipelines::definition::parse;
    use crate::pipelines::Origin;

    fn def(text: &str) -> Definition {
        parse("pipelines/t.toml", text, Origin::File).unwrap_or_else(|p| panic!("{p:?}"))
    }

    fn seen(pairs: &[(&str, TaskState)]) -> HashMap<String, Seen> {
        pairs.iter().map(|(t, s)| (t.to_string(), Seen { state: *s, chose: None })).collect()
    }

    fn states(changes: &[Change]) -> Vec<(&str, TaskState)> {
        changes.iter().map(|c| (c.task.as_str(), c.state)).collect()
    }

    const RULES: &str = r#"
[[tasks]]
id = "a"
type = "noop"
[[tasks]]
id = "b"
type = "noop"
[[tasks]]
id = "all_success"
type = "noop"
upstream = ["a", "b"]
[[tasks]]
id = "all_done"
type = "noop"
upstream = ["a", "b"]
trigger_rule = "all_done"
[[tasks]]
id = "one_failed"
type = "noop"
upstream = ["a", "b"]
trigger_rule = "one_failed"
[[tasks]]
id = "none_failed"
type = "noop"
upstream = ["a", "b"]
trigger_rule = "none_failed"
"#;

    fn after(a: TaskState, b: TaskState) -> Vec<(String, TaskState)> {
        let d = def(RULES);
        let mut s = seen(&[("a", a), ("b", b)]);
        for t in ["all_success", "all_done", "one_failed", "none_failed"] {
            s.insert(t.into(), Seen { state: TaskState::Pending, chose: None });
        }
        let mut out: Vec<(String, TaskState)> = advance(&d, &s).into_iter().map(|c| (c.task, c.state)).collect();
        out.sort_by(|x, y| x.0.cmp(&y.0));
        out
    }

    fn named(pairs: &[(&str, TaskState)]) -> Vec<(String, TaskState)> {
        let mut v: Vec<(String, TaskState)> = pairs.iter().map(|(t, s)| (t.to_string(), *s)).collect();
        v.sort_by(|x, y| x.0.cmp(&y.0));
        v
    }

    use TaskState::*;

    #[test]
    fn roots_are_queued_at_once() {
        let d = def(RULES);
        let s = seen(&[("a", Pending), ("b", Pending), ("all_success", Pending)]);
        assert_eq!(states(&advance(&d, &s)), vec![("a", Queued), ("b", Queued)]);
    }

    #[test]
    fn every_rule_when_all_upstreams_succeed() {
        assert_eq!(
            after(Success, Success),
            named(&[("all_done", Queued), ("all_success", Queued), ("none_failed", Queued), ("one_failed", Skipped)])
        );
    }

    #[test]
    fn every_rule_when_one_upstream_failed() {
        assert_eq!(
            after(Success, Failed),
            named(&[
                ("all_done", Queued),
                ("all_success", UpstreamFailed),
                ("none_failed", UpstreamFailed),
                ("one_failed", Queued)
            ])
        );
    }

    #[test]
    fn every_rule_when_one_upstream_was_skipped() {
        assert_eq!(
            after(Success, Skipped),
            named(&[("all_done", Queued), ("all_success", Skipped), ("none_failed", Queued), ("one_failed", Skipped)])
        );
    }

    #[test]
    fn one_failed_fires_before_the_others_end_and_the_rest_wait() {
        assert_eq!(after(Failed, Running), named(&[("one_failed", Queued)]));
        assert_eq!(after(Success, Running), named(&[]));
    }

    #[test]
    fn a_cancelled_upstream_did_not_succeed() {
        assert_eq!(
            after(Success, Cancelled),
            named(&[
                ("all_done", Queued),
                ("all_success", UpstreamFailed),
                ("none_failed", UpstreamFailed),
                ("one_failed", Queued)
            ])
        );
    }

    #[test]
    fn failures_and_skips_travel_down_a_chain() {
        let d = def(r#"
[[tasks]]
id = "a"
type = "noop"
[[tasks]]
id = "b"
type = "noop"
upstream = ["a"]
[[tasks]]
id = "c"
type = "noop"
upstream = ["b"]
[[tasks]]
id = "cleanup"
type = "noop"
upstream = ["c"]
trigger_rule = "all_done"
"#);
        let s = seen(&[("a", Failed), ("b", Pending), ("c", Pending), ("cleanup", Pending)]);
        let changes = advance(&d, &s);
        assert_eq!(states(&changes), vec![("b", UpstreamFailed), ("c", UpstreamFailed), ("cleanup", Queued)]);
        assert_eq!(changes[0].message.as_deref(), Some("upstream 'a' did not succeed"));
        assert_eq!(
            outcome([Failed, UpstreamFailed, UpstreamFailed, Success]),
            Some(crate::pipelines::RunState::Failed)
        );
        assert_eq!(outcome([Success, Skipped]), Some(crate::pipelines::RunState::Success));
        assert_eq!(outcome([Success, Queued]), None);
    }

    #[test]
    fn a_branch_skips_what_it_did_not_choose() {
        let d = def(r#"
[[tasks]]
id = "check"
type = "noop"
[[tasks]]
id = "decide"
type = "branch"
upstream = ["check"]
config = { field = "passed", cases = { "true" = ["load"], "false" = ["alert"] } }
[[tasks]]
id = "load"
type = "noop"
upstream = ["decide"]
[[tasks]]
id = "alert"
type = "noop"
upstream = ["decide"]
[[tasks]]
id = "after_load"
type = "noop"
upstream = ["load"]
"#);
        let mut s = seen(&[("check", Success), ("load", Pending), ("alert", Pending), ("after_load", Pending)]);
        s.insert("decide".into(), Seen { state: Success, chose: Some(vec!["alert".into()]) });
        let changes = advance(&d, &s);
        assert_eq!(states(&changes), vec![("load", Skipped), ("alert", Queued), ("after_load", Skipped)]);
        assert_eq!(changes[0].message.as_deref(), Some("branch 'decide' chose 'alert'"));
        assert_eq!(downstream_of(&d, "decide"), vec!["load", "alert", "after_load"]);
    }
}
