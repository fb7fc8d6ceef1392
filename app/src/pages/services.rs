//! Services (`/services`): okrflow's own components (web server, database, metrics sampler, log
//! store, and whatever later capabilities register) with health, uptime, detail and the
//! controls that apply now; and the external dependencies the user configures (TCP or HTTP
//! checks) with their latency history and last error. Re-checked every 5 s while open.

use leptos::prelude::*;
use okrflow_engine::accounts::Role;
use okrflow_engine::monitoring::{CheckResult, CheckView, ServiceKind, ServiceView};
use okrflow_engine::processes::{ProcessView, Role as ProcessRole};
use okrflow_engine::units::format_duration;

use crate::components::table::TableHead;
use crate::components::ErrorNote;
use crate::refresh::use_refresh;

/// The Services page's data: every service, measured now, and whether the caller may use the
/// controls (admins).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ServicesNow {
    pub services: Vec<ServiceView>,
    pub can_control: bool,
    /// The okrflow processes over this database that beat recently.
    pub processes: Vec<ProcessView>,
    /// The server's clock when measured: "last beat 2 s ago" reads the same rendered and hydrated.
    pub now_ms: i64,
}

#[server]
pub async fn list_services() -> Result<ServicesNow, ServerFnError> {
    use crate::server::*;
    let actor = actor();
    let engine = engine()?;
    let services = engine.services().list(&actor).await.map_err(failed)?;
    let processes = engine
        .processes()
        .await
        .map_err(|e| fail(okrflow_engine::ErrorKind::Unavailable, format!("cannot list the okrflow processes: {e}")))?;
    Ok(ServicesNow { services, can_control: actor.can(Role::Admin), processes, now_ms: now_ms() })
}

/// Runs a control of one of okrflow's components; answers what was done.
#[server]
pub async fn run_service_control(service: String, control: String) -> Result<String, ServerFnError> {
    use crate::server::*;
    engine()?.services().control(&actor(), &service, &control).await.map_err(failed)
}

/// Adds an external check. Numbers arrive as form text so that a wrong one gets a message
/// naming the field, not a decoding error.
#[server]
pub async fn add_service_check(
    name: String,
    kind: String,
    target: String,
    expected_status: String,
    interval_secs: String,
    timeout_ms: String,
) -> Result<i64, ServerFnError> {
    use crate::server::*;
    use okrflow_engine::monitoring::checks::CheckSpec;
    use okrflow_engine::monitoring::handle::ServiceError;
    use okrflow_engine::monitoring::CheckKind;
    let actor = require(Role::Admin)?;
    let kind = CheckKind::parse(&kind).ok_or_else(|| bad_request(format!("check type '{kind}': use tcp or http")))?;
    let number = |field: &str, text: &str, default: u32| -> Result<u32, ServerFnError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(default);
        }
        text.parse().map_err(|_| bad_request(format!("{field} '{text}' is not a whole number")))
    };
    let expected = match expected_status.trim() {
        "" => None,
        text => Some(
            text.parse::<u16>()
                .map_err(|_| bad_request(format!("expected status '{text}' is not an HTTP status from 100 to 599")))?,
        ),
    };
    let spec = CheckSpec::new(
        &name,
        kind,
        &target,
        expected,
        number("interval", &interval_secs, 30)?,
        number("timeout", &timeout_ms, 2_000)?,
    )
    .map_err(|e| failed(ServiceError::from(e)))?;
    engine()?.services().add_check(&actor, spec).await.map_err(failed)
}

#[server]
pub async fn remove_service_check(id: i64) -> Result<String, ServerFnError> {
    use crate::server::*;
    let id = check_id("id", id)?;
    let name = engine()?.services().remove_check(&actor(), id).await.map_err(failed)?;
    Ok(format!("Check '{name}' removed"))
}

const RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

lazy_page!(ServicesRoute, ServicesPage);

#[component]
pub fn ServicesPage() -> impl IntoView {
    let refresh = use_refresh();
    let control = ServerAction::<RunServiceControl>::new();
    let add = ServerAction::<AddServiceCheck>::new();
    let remove = ServerAction::<RemoveServiceCheck>::new();
    let tick = RwSignal::new(0u32);
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(move || tick.update(|n| *n += 1), RECHECK) {
            on_cleanup(move || handle.clear());
        }
    });
    let services = Resource::new(
        move || (refresh.get(), tick.get(), control.version().get(), add.version().get(), remove.version().get()),
        |_| list_services(),
    );
    let is_admin = Resource::new(|| (), |_| crate::pages::login::get_session());
    let admin = move || is_admin.get().and_then(|r| r.ok()).flatten().is_some_and(|s| s.role >= Role::Admin);
    // Whatever the latest control or change said, success or refusal.
    let notice = RwSignal::new(None::<Result<String, ServerFnError>>);
    Effect::new(move |_| {
        if let Some(result) = control.value().get() {
            notice.set(Some(result));
        }
    });
    Effect::new(move |_| {
        if let Some(result) = remove.value().get() {
            notice.set(Some(result));
        }
    });
    Effect::new(move |_| {
        if let Some(result) = add.value().get() {
            notice.set(Some(result.map(|_| "Check added; its first result arrives within its timeout".to_string())));
        }
    });
    let said = move || notice.get();

    view! {
        <div class="page services">
            {move || {
                said()
                    .map(|r| match r {
                        Ok(text) => view! { <p class="notice" role="status" data-testid="service-notice">{text}</p> }.into_any(),
                        Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                    })
            }}
            <Transition fallback=|| view! { <p class="loading">"Checking…"</p> }>
                {move || {
                    services
                        .get()
                        .map(|result| match result {
                            Ok(now) => {
                                let admin = now.can_control;
                                let (internal, external): (Vec<_>, Vec<_>) =
                                    now.services.into_iter().partition(|s| s.kind == ServiceKind::Internal);
                                view! {
                                    <section aria-labelledby="own-title">
                                        <h2 id="own-title">"okrflow"</h2>
                                        <InternalTable services=internal control admin/>
                                    </section>
                                    <section aria-labelledby="processes-title">
                                        <h2 id="processes-title">"Processes"</h2>
                                        <ProcessTable processes=now.processes now_ms=now.now_ms/>
                                    </section>
                                    <section aria-labelledby="ext-title">
                                        <h2 id="ext-title">"External dependencies"</h2>
                                        <ExternalTable checks=external remove admin/>
                                    </section>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <ErrorNote error=e/> }.into_any(),
                        })
                }}
            </Transition>
            // Its own boundary, so the 5-second re-check does not wipe what is being typed.
            <Transition fallback=|| ()>{move || is_admin.get().map(|_| admin().then(|| view! { <NewCheckForm add/> }))}</Transition>
        </div>
    }
}

/// The okrflow processes sharing this database: web servers and workers, where they run, and
/// how recently each beat.
#[component]
fn ProcessTable(processes: Vec<ProcessView>, now_ms: i64) -> impl IntoView {
    if processes.is_empty() {
        return view! { <p class="muted">"No process has registered with this database."</p> }.into_any();
    }
    view! {
        <div class="table-scroll">
        <table class="table" data-testid="processes">
            <TableHead columns=&["Role", "Host", "PID", "Address", "Jobs", "Version", "Up", "Last beat"]/>
            <tbody>
                {processes
                    .into_iter()
                    .map(|p| {
                        let role = match p.role {
                            ProcessRole::Serve => "web server",
                            ProcessRole::Worker => "worker",
                        };
                        let up = format_duration(((now_ms - p.started_ms).max(0) / 1000) as u64);
                        let beat = format!("{} s ago", ((now_ms - p.heartbeat_ms).max(0) + 500) / 1000);
                        let address = if p.address.is_empty() { "—".to_string() } else { p.address.clone() };
                        view! {
                            <tr data-process=p.id.clone() data-role=p.role.as_str()>
                                <td>{role}{p.this.then(|| view! { <span class="muted small">" (this one)"</span> })}</td>
                                <td>{p.host.clone()}</td>
                                <td class="num">{p.pid}</td>
                                <td><code>{address}</code></td>
                                <td>{if p.runs_jobs { "runs jobs" } else { "no jobs" }}</td>
                                <td>{p.version.clone()}</td>
                                <td class="nowrap">{up}</td>
                                <td class="nowrap">{beat}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
        </div>
    }
    .into_any()
}

fn badge(s: &ServiceView) -> impl IntoView {
    let class = format!("badge badge-{}", s.health.label());
    view! { <span class=class>{s.health.label()}</span> }
}

#[component]
fn InternalTable(services: Vec<ServiceView>, control: ServerAction<RunServiceControl>, admin: bool) -> impl IntoView {
    // "true" once this table is hydrated and its buttons answer (tests wait for it).
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));
    view! {
        <div class="table-scroll">
        <table class="table" data-testid="internal-services" data-ready=move || ready.get().to_string()>
            <TableHead columns=&["Component", "Health", "Up", "Detail", "Controls"]/>
            <tbody>
                {services
                    .into_iter()
                    .map(|s| {
                        let name = s.name.clone();
                        let controls = if admin {
                            s.controls
                                .iter()
                                .map(|c| {
                                    let (service, id) = (name.clone(), c.id.clone());
                                    view! {
                                        <button
                                            type="button"
                                            class="button small"
                                            title=c.help.clone()
                                            on:click=move |_| {
                                                control.dispatch(RunServiceControl { service: service.clone(), control: id.clone() });
                                            }
                                        >
                                            {c.label.clone()}
                                        </button>
                                    }
                                })
                                .collect_view()
                                .into_any()
                        } else {
                            ().into_any()
                        };
                        view! {
                            <tr data-service=s.name.clone()>
                                <td>{s.name.clone()}</td>
                                <td>{badge(&s)}</td>
                                <td class="nowrap">{s.uptime_secs.map(format_duration).unwrap_or_default()}</td>
                                <td>{s.detail.clone()}</td>
                                <td class="controls">{controls}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
        </div>
    }
}

#[component]
fn ExternalTable(checks: Vec<ServiceView>, remove: ServerAction<RemoveServiceCheck>, admin: bool) -> impl IntoView {
    if checks.is_empty() {
        return view! {
            <p class="muted" data-testid="no-checks">
                "No external dependencies are watched. An admin can add a TCP or HTTP check below; a failing check turns the status pill to degraded and names it."
            </p>
        }
        .into_any();
    }
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));
    view! {
        <div class="table-scroll">
        <table class="table" data-testid="external-services" data-ready=move || ready.get().to_string()>
            <TableHead columns=&["Name", "Health", "Target", "Latency (recent)", "Last error", ""]/>
            <tbody>
                {checks
                    .into_iter()
                    .map(|s| {
                        let check = s.check.clone().unwrap_or_else(|| CheckView {
                            id: 0,
                            kind: okrflow_engine::monitoring::CheckKind::Tcp,
                            target: String::new(),
                            expected_status: None,
                            interval_secs: 0,
                            timeout_ms: 0,
                            results: Vec::new(),
                            last_error: None,
                        });
                        let id = check.id;
                        let name = s.name.clone();
                        let target = match check.expected_status {
                            Some(status) => format!("GET {} → {status}", check.target),
                            None => format!("TCP {}", check.target),
                        };
                        let schedule = format!("every {} s, timeout {} ms", check.interval_secs, check.timeout_ms);
                        let delete = admin.then(|| {
                            view! {
                                <button
                                    type="button"
                                    class="button small danger"
                                    on:click=move |_| {
                                        let sure = window()
                                            .confirm_with_message(&format!("Stop watching '{name}'?"))
                                            .unwrap_or(false);
                                        if sure {
                                            remove.dispatch(RemoveServiceCheck { id });
                                        }
                                    }
                                >
                                    "Remove"
                                </button>
                            }
                        });
                        view! {
                            <tr data-service=s.name.clone()>
                                <td>{s.name.clone()}</td>
                                <td>{badge(&s)}<div class="small muted">{s.detail.clone()}</div></td>
                                <td><code>{target}</code><div class="small muted">{schedule}</div></td>
                                <td><Sparkline results=check.results.clone()/></td>
                                <td class="small">{check.last_error.clone().unwrap_or_else(|| "none".into())}</td>
                                <td>{delete}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
        </div>
    }
    .into_any()
}

/// The latency of a check's recent runs as a small bar chart: failed runs in red at full height.
#[component]
fn Sparkline(results: Vec<CheckResult>) -> impl IntoView {
    const W: f64 = 160.0;
    const H: f64 = 32.0;
    let max = results.iter().filter(|r| r.ok).map(|r| r.latency_ms).fold(1.0, f64::max);
    let n = results.len().max(1) as f64;
    let bar = W / n.max(30.0);
    let newest = results.last().map(|r| if r.ok { format!("{:.1} ms", r.latency_ms) } else { "failed".into() });
    let label = format!("{} runs, newest {}", results.len(), newest.clone().unwrap_or_else(|| "none yet".into()));
    let offset = W - bar * results.len() as f64;
    view! {
        <svg class="sparkline" viewBox=format!("0 0 {W} {H}") width=W height=H role="img" aria-label=label>
            {results
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let h = if r.ok { (r.latency_ms / max * (H - 2.0)).max(1.5) } else { H };
                    let class = if r.ok { "spark-ok" } else { "spark-bad" };
                    view! { <rect class=class x=offset + i as f64 * bar y=H - h width=(bar - 1.0).max(1.0) height=h></rect> }
                })
                .collect_view()}
        </svg>
        <span class="small muted">{newest.unwrap_or_default()}</span>
    }
}

#[component]
fn NewCheckForm(add: ServerAction<AddServiceCheck>) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="new-check-title">
            <h2 id="new-check-title">"Watch a dependency"</h2>
            <ActionForm action=add attr:class="inline-form" attr:data-testid="new-check-form">
                <label class="field">
                    <span>"Name"</span>
                    <input name="name" required maxlength="60" placeholder="postgres"/>
                </label>
                <label class="field">
                    <span>"Type"</span>
                    <select name="kind">
                        <option value="tcp">"TCP connect"</option>
                        <option value="http">"HTTP GET"</option>
                    </select>
                </label>
                <label class="field">
                    <span>"Target (host:port or URL)"</span>
                    <input name="target" required placeholder="127.0.0.1:5432 or http://host/health"/>
                </label>
                <label class="field">
                    <span>"Expected status (HTTP)"</span>
                    <input name="expected_status" inputmode="numeric" placeholder="200"/>
                </label>
                <label class="field">
                    <span>"Every (s)"</span>
                    <input name="interval_secs" inputmode="numeric" placeholder="30"/>
                </label>
                <label class="field">
                    <span>"Timeout (ms)"</span>
                    <input name="timeout_ms" inputmode="numeric" placeholder="2000"/>
                </label>
                <button type="submit" class="button">"Add check"</button>
            </ActionForm>
        </section>
    }
}
