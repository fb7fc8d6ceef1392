//! Line charts drawn as SVG by Leptos itself (no JavaScript chart library): axes with units,
//! a legend with the newest values, a band for the min–max spread of aggregated points, gaps
//! where no samples exist, and the values under the pointer on hover. The server renders the
//! history so far; after hydration the lines move as live samples arrive.

use leptos::prelude::*;
use okrflow_engine::monitoring::series::value_near;
use okrflow_engine::monitoring::{Point, Unit};
use okrflow_engine::units::{format_bytes, format_rate};

/// One line of a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartLine {
    pub label: &'static str,
    /// A colour class from the stylesheet: `line-1` … `line-4`.
    pub class: &'static str,
    pub points: Vec<Point>,
}

// The drawing area in SVG units, shared by every line chart; the SVG scales to its container's
// width.
pub(crate) const VW: f64 = 640.0;
pub(crate) const VH: f64 = 220.0;
pub(crate) const LEFT: f64 = 64.0;
pub(crate) const RIGHT: f64 = 12.0;
pub(crate) const TOP: f64 = 10.0;
pub(crate) const BOTTOM: f64 = 26.0;

/// One legend entry: the line's colour class, its label and the value shown beside it.
#[derive(Clone, Debug, PartialEq)]
pub struct LegendItem {
    pub class: String,
    pub label: String,
    pub value: Option<String>,
}

/// What both line charts draw around their lines: the grid with the value labels (`y_ticks`:
/// SVG y and label), both axes, the labels under the x axis (SVG x and label) and the hover
/// cursor at an SVG x.
pub(crate) fn axes_view(
    y_ticks: Vec<(f64, String)>,
    x_ticks: Vec<(f64, String)>,
    cursor: Option<f64>,
) -> impl IntoView {
    let grid = y_ticks
        .into_iter()
        .map(|(yy, label)| {
            view! {
                <line class="grid" x1=LEFT x2=VW - RIGHT y1=yy y2=yy></line>
                <text class="tick" x=LEFT - 6.0 y=yy + 4.0 text-anchor="end">{label}</text>
            }
        })
        .collect_view();
    let labels = x_ticks
        .into_iter()
        .map(|(xx, label)| view! { <text class="tick" x=xx y=VH - 8.0 text-anchor="middle">{label}</text> })
        .collect_view();
    let cursor = cursor.map(|xx| view! { <line class="cursor" x1=xx x2=xx y1=TOP y2=VH - BOTTOM></line> });
    view! {
        {grid}
        {labels}
        <line class="axis" x1=LEFT x2=LEFT y1=TOP y2=VH - BOTTOM></line>
        <line class="axis" x1=LEFT x2=VW - RIGHT y1=VH - BOTTOM y2=VH - BOTTOM></line>
        {cursor}
    }
}

/// The frame of a line chart: heading and legend, the readout of the values under the pointer
/// (`hint` until it points), and the SVG plot (the children). `on_hover` gets where the pointer
/// is across the plot area, 0 at the value axis to 1 at the right end, and None when it leaves.
#[component]
pub fn ChartFrame(
    title: String,
    /// `data-testid` of the figure; its heading's id derives from it.
    test_id: String,
    legend: Signal<Vec<LegendItem>>,
    readout: Signal<Option<String>>,
    hint: &'static str,
    on_hover: Callback<Option<f64>>,
    /// The points drawn (`data-points`, which tests wait on).
    points: Signal<usize>,
    /// The newest point's time (`data-last-t`), for time charts.
    #[prop(optional)]
    last_t: Option<Signal<i64>>,
    children: Children,
) -> impl IntoView {
    let on_move = move |ev: leptos::ev::MouseEvent| {
        use wasm_bindgen::JsCast;
        let Some(target) = ev.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
        let rect = target.get_bounding_client_rect();
        if rect.width() <= 0.0 {
            return;
        }
        let sx = (ev.client_x() as f64 - rect.left()) / rect.width() * VW;
        on_hover.run(Some(((sx - LEFT) / (VW - LEFT - RIGHT)).clamp(0.0, 1.0)));
    };
    let legend = move || {
        legend
            .get()
            .into_iter()
            .map(|item| {
                let value = item.value.map(|v| view! { ": " <strong>{v}</strong> });
                view! {
                    <li>
                        <span class=format!("swatch {}", item.class) aria-hidden="true"></span>
                        {item.label}
                        {value}
                    </li>
                }
            })
            .collect_view()
    };
    let heading_id = format!("{test_id}-title");
    view! {
        <figure class="chart card" data-testid=test_id data-points=points data-last-t=move || last_t.map(|t| t.get())>
            <figcaption class="chart-head">
                <h3 id=heading_id.clone()>{title}</h3>
                <ul class="legend">{legend}</ul>
            </figcaption>
            <p class="chart-readout small muted" aria-live="off">
                {move || readout.get().unwrap_or_else(|| hint.into())}
            </p>
            <svg
                viewBox=format!("0 0 {VW} {VH}")
                role="img"
                aria-labelledby=heading_id
                preserveAspectRatio="none"
                on:mousemove=on_move
                on:mouseleave=move |_| on_hover.run(None)
            >
                {children()}
            </svg>
        </figure>
    }
}

/// A value with its unit, as axis labels and the hover readout show it.
pub fn format_value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Percent => format!("{v:.1} %"),
        Unit::BytesPerSec => format_rate(v),
        Unit::Bytes => format_bytes(v.max(0.0) as u64),
        Unit::Plain => format!("{v:.2}"),
    }
}

fn axis_label(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Percent => format!("{v:.0} %"),
        _ => format_value(unit, v),
    }
}

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ that is at least `v`: the top of a readable axis.
pub fn nice_ceiling(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|c| *c >= v * 0.999_999).unwrap_or(v)
}

/// Tick spacing on the time axis for a window, and the label of a tick `secs` before its end.
fn time_step_secs(span_secs: i64) -> i64 {
    match span_secs {
        s if s <= 600 => 60,
        s if s <= 2 * 3600 => 15 * 60,
        s if s <= 2 * 86_400 => 6 * 3600,
        _ => 86_400,
    }
}

fn ago_label(secs: i64) -> String {
    match secs {
        0 => "now".into(),
        s if s % 86_400 == 0 => format!("−{}d", s / 86_400),
        s if s % 3600 == 0 => format!("−{}h", s / 3600),
        s if s % 60 == 0 => format!("−{}m", s / 60),
        s => format!("−{s}s"),
    }
}

/// The SVG path of a line, broken where consecutive points are further apart than `gap_ms`.
fn line_path(points: &[Point], x: impl Fn(i64) -> f64, y: impl Fn(f64) -> f64, gap_ms: i64) -> String {
    let mut d = String::with_capacity(points.len() * 16);
    let mut previous: Option<i64> = None;
    for p in points {
        let command = if previous.is_none_or(|t| p.t_ms - t > gap_ms) { 'M' } else { 'L' };
        d.push_str(&format!("{command}{:.1} {:.1} ", x(p.t_ms), y(p.avg)));
        previous = Some(p.t_ms);
    }
    d
}

/// The min–max band of aggregated points (empty when every point is exact).
fn band_path(points: &[Point], x: impl Fn(i64) -> f64, y: impl Fn(f64) -> f64) -> String {
    if points.len() < 2 || points.iter().all(|p| p.min == p.max) {
        return String::new();
    }
    let mut d = String::new();
    for (i, p) in points.iter().enumerate() {
        d.push_str(&format!("{}{:.1} {:.1} ", if i == 0 { 'M' } else { 'L' }, x(p.t_ms), y(p.max)));
    }
    for p in points.iter().rev() {
        d.push_str(&format!("L{:.1} {:.1} ", x(p.t_ms), y(p.min)));
    }
    d.push('Z');
    d
}

/// The typical distance between points, for gap detection and hover tolerance.
fn typical_step(points: &[Point]) -> i64 {
    match (points.first(), points.last()) {
        (Some(a), Some(b)) if points.len() > 1 => ((b.t_ms - a.t_ms) / (points.len() as i64 - 1)).max(1_000),
        _ => 1_000,
    }
}

#[component]
pub fn LineChart(
    /// Heading and accessible name.
    title: &'static str,
    unit: Unit,
    lines: Signal<Vec<ChartLine>>,
    /// The time window shown, (from, to) in ms.
    window: Signal<(i64, i64)>,
    /// A fixed top of the value axis (100 for percentages); otherwise it follows the data.
    #[prop(optional)]
    y_max: Option<f64>,
    /// `data-testid` of the chart, for tests.
    test_id: &'static str,
) -> impl IntoView {
    let hover = RwSignal::new(None::<i64>);
    let on_hover = Callback::new(move |frac: Option<f64>| {
        let (from, to) = window.get_untracked();
        hover.set(frac.map(|f| from + ((to - from) as f64 * f) as i64));
    });
    let legend = Signal::derive(move || {
        lines
            .get()
            .into_iter()
            .map(|l| LegendItem {
                class: l.class.into(),
                label: l.label.into(),
                value: Some(l.points.last().map(|p| format_value(unit, p.avg)).unwrap_or_else(|| "no data".into())),
            })
            .collect()
    });
    let readout = Signal::derive(move || {
        let t = hover.get()?;
        let (_, to) = window.get();
        let parts = lines
            .get()
            .iter()
            .map(|l| {
                let tolerance = typical_step(&l.points) * 2;
                let v = value_near(&l.points, t, tolerance).map(|v| format_value(unit, v));
                format!("{} {}", l.label, v.unwrap_or_else(|| "—".into()))
            })
            .collect::<Vec<_>>()
            .join(" · ");
        Some(format!("{}: {parts}", ago_label(((to - t) / 1000).max(0))))
    });

    let plot = move || {
        let lines = lines.get();
        let (from, to) = window.get();
        let span = (to - from).max(1) as f64;
        let top = y_max.unwrap_or_else(|| {
            nice_ceiling(lines.iter().flat_map(|l| l.points.iter().map(|p| p.max)).fold(0.0, f64::max))
        });
        let x = move |t: i64| LEFT + (t - from) as f64 / span * (VW - LEFT - RIGHT);
        let y = move |v: f64| TOP + (1.0 - (v / top).clamp(0.0, 1.0)) * (VH - TOP - BOTTOM);

        let y_ticks = (0..=4).map(|i| top * i as f64 / 4.0).map(|v| (y(v), axis_label(unit, v))).collect();
        let span_secs = (to - from) / 1000;
        let step = time_step_secs(span_secs);
        let x_ticks =
            (0..=span_secs / step).map(|i| i * step).map(|ago| (x(to - ago * 1000), ago_label(ago))).collect();
        let drawn = lines
            .iter()
            .map(|l| {
                let gap = typical_step(&l.points) * 3;
                view! {
                    <path class=format!("band {}", l.class) d=band_path(&l.points, x, y)></path>
                    <path class=format!("line {}", l.class) d=line_path(&l.points, x, y, gap)></path>
                }
            })
            .collect_view();
        view! {
            {axes_view(y_ticks, x_ticks, hover.get().map(x))}
            {drawn}
        }
    };

    let points = Signal::derive(move || lines.with(|l| l.first().map(|l| l.points.len()).unwrap_or(0)));
    let last_t =
        Signal::derive(move || lines.with(|l| l.first().and_then(|l| l.points.last()).map(|p| p.t_ms).unwrap_or(0)));
    view! {
        <ChartFrame
            title=title.to_string()
            test_id=test_id.to_string()
            legend=legend
            readout=readout
            hint="Point at the chart to read values"
            on_hover=on_hover
            points=points
            last_t=last_t
        >
            {plot}
        </ChartFrame>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.3), 10.0);
        assert_eq!(nice_ceiling(180.0), 200.0);
        assert_eq!(nice_ceiling(2_300_000.0), 2_500_000.0);
        assert_eq!(nice_ceiling(50.0), 50.0);
    }

    #[test]
    fn gaps_break_the_line() {
        let points = [Point::exact(0, 1.0), Point::exact(1_000, 1.0), Point::exact(60_000, 1.0)];
        let d = line_path(&points, |t| t as f64, |v| v, 3_000);
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert!(band_path(&points, |t| t as f64, |v| v).is_empty(), "exact points have no band");
    }

    #[test]
    fn time_ticks_read_as_ago() {
        assert_eq!(ago_label(0), "now");
        assert_eq!(ago_label(120), "−2m");
        assert_eq!(ago_label(6 * 3600), "−6h");
        assert_eq!(ago_label(2 * 86_400), "−2d");
        assert_eq!(time_step_secs(300), 60);
        assert_eq!(time_step_secs(7 * 86_400), 86_400);
    }
}
