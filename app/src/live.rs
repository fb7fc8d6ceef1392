//! The live metrics feed in the browser: one streaming server function per page that shows live
//! numbers, read line by line into a signal. It pauses (closing the stream) while the tab is
//! hidden and reconnects by itself, backing off, after errors or a server restart.

use std::time::Duration;

use leptos::prelude::*;
use okrflow_engine::monitoring::Sample;

/// How long one stream lasts: the caller's access was checked when it opened, so a logged-out or
/// demoted user stops receiving within this time; an allowed browser opens the next at once.
pub const STREAM_MAX_AGE: Duration = Duration::from_secs(300);

/// Each sample as one JSON line, for up to [`STREAM_MAX_AGE`]. The first line is the newest
/// sample, so a new page has numbers at once.
#[server(output = leptos::server_fn::codec::StreamingText)]
pub async fn stream_metrics() -> Result<leptos::server_fn::codec::TextStream, ServerFnError> {
    let engine = crate::server::engine()?;
    let lines = engine.sampler().live_lines(STREAM_MAX_AGE);
    Ok(leptos::server_fn::codec::TextStream::new(futures::StreamExt::map(lines, |line| Ok(line.to_string()))))
}

/// Where the feed is.
#[derive(Clone, Debug, PartialEq)]
pub enum LiveState {
    /// Before the first connection (and always on the server).
    Starting,
    Live,
    /// The tab is hidden: the stream is closed until it is visible again.
    Hidden,
    /// Lost; the next attempt is under way after the reason given.
    Reconnecting(String),
}

impl LiveState {
    pub fn describe(&self) -> String {
        match self {
            LiveState::Starting => "Connecting to the live feed…".into(),
            LiveState::Live => "Live".into(),
            LiveState::Hidden => "Paused while this tab is hidden".into(),
            LiveState::Reconnecting(why) => format!("Reconnecting ({why})…"),
        }
    }
}

#[derive(Clone, Copy)]
pub struct LiveFeed {
    /// The newest sample received.
    pub latest: RwSignal<Option<Sample>>,
    pub state: RwSignal<LiveState>,
    /// Counts connections: a page refetches its history when this changes after the first,
    /// to fill the gap a disconnection left.
    pub connections: RwSignal<u32>,
    /// When the last sample arrived, by this browser's clock (ms since the epoch): "no new
    /// samples for a while" must not depend on the server's clock agreeing with ours.
    pub received_at: RwSignal<Option<i64>>,
}

/// Starts following the live feed for as long as the calling component lives.
pub fn use_live_feed() -> LiveFeed {
    let feed = LiveFeed {
        latest: RwSignal::new(None),
        state: RwSignal::new(LiveState::Starting),
        connections: RwSignal::new(0),
        received_at: RwSignal::new(None),
    };
    let visible = RwSignal::new(true);
    let running = StoredValue::new(None::<futures::future::AbortHandle>);
    let stop = move || {
        if let Some(handle) = running.try_update_value(Option::take).flatten() {
            handle.abort();
        }
    };
    // Effects run only in the browser.
    Effect::new(move |_| {
        let is_visible = move || !crate::refresh::tab_is_hidden();
        visible.set(is_visible());
        let listener = window_event_listener(leptos::ev::visibilitychange, move |_| visible.set(is_visible()));
        on_cleanup(move || listener.remove());
    });
    Effect::new(move |_| {
        stop();
        if visible.get() {
            let (task, handle) = futures::future::abortable(follow(feed));
            running.set_value(Some(handle));
            leptos::task::spawn_local(async move {
                let _ = task.await;
            });
        } else {
            feed.state.try_set(LiveState::Hidden);
        }
    });
    on_cleanup(stop);
    feed
}

/// Refetches `resource` whenever the feed connects again after a loss, so the history fills the
/// gap the disconnection left. (An Effect, not part of the resource's source: a source that
/// changes while the page hydrates makes the browser render something the server did not.)
pub fn refetch_on_reconnect<T>(feed: LiveFeed, resource: Resource<T>)
where
    T: Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    Effect::new(move |previous: Option<u32>| {
        let n = feed.connections.get();
        if previous.is_some_and(|p| p > 0 && n > p) {
            resource.refetch();
        }
        n
    });
}

async fn follow(feed: LiveFeed) {
    use futures::StreamExt;
    let mut delay = Duration::from_secs(1);
    loop {
        match stream_metrics().await {
            Ok(stream) => {
                feed.state.try_set(LiveState::Live);
                feed.connections.try_update(|n| *n += 1);
                let mut stream = stream.into_inner();
                let mut pending = String::new();
                let mut why = "the server ended the stream".to_string();
                while let Some(chunk) = stream.next().await {
                    match chunk {
                        Ok(text) => pending.push_str(&text),
                        Err(e) => {
                            why = crate::components::error_text(&e);
                            break;
                        }
                    }
                    while let Some(end) = pending.find('\n') {
                        let line: String = pending.drain(..=end).collect();
                        if let Ok(sample) = serde_json::from_str::<Sample>(line.trim_end()) {
                            feed.latest.try_set(Some(sample));
                            feed.received_at.try_set(browser_now_ms());
                            delay = Duration::ZERO;
                        }
                    }
                }
                feed.state.try_set(LiveState::Reconnecting(why));
            }
            Err(e) => {
                feed.state.try_set(LiveState::Reconnecting(crate::components::error_text(&e)));
            }
        }
        // A stream that delivered and then ended (its time was up) is replaced at once; failures
        // back off from 1 s to 10 s.
        if !delay.is_zero() {
            sleep(delay).await;
        }
        delay = (delay * 2).clamp(Duration::from_secs(1), Duration::from_secs(10));
    }
}

/// Now by the browser's clock; `None` on the server.
pub fn browser_now_ms() -> Option<i64> {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window().and_then(|w| w.performance()).map(|p| (p.time_origin() + p.now()) as i64)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        None
    }
}

/// Waits without blocking the browser's only thread.
async fn sleep(duration: Duration) {
    let (done, wait) = futures::channel::oneshot::channel::<()>();
    set_timeout(
        move || {
            let _ = done.send(());
        },
        duration,
    );
    let _ = wait.await;
}
