//! Charts of tracked metrics, drawn as SVG: one or more runs' series of a metric against its
//! step (the points the server sampled), with axes that follow the data (negative values too),
//! gaps where a value is NaN or infinite, a legend and the values under the pointer; and the
//! parallel-coordinates chart of the Compare page.

use leptos::prelude::*;

use super::chart::{axes_view, ChartFrame, LegendItem, BOTTOM, LEFT, RIGHT, TOP, VH, VW};

/// One run's line.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSeries {
    pub label: String,
    /// The colour's index (0-based), cycling through the stylesheet's `line-1` … `line-8`.
    pub color: usize,
    /// (step, value), in step order.
    pub points: Vec<(i64, f64)>,
}

pub fn line_class(color: usize) -> String {
    format!("line-{}", color % 8 + 1)
}

/// A number as the tracking pages show it: up to four significant decimals, exponents for very
/// large or small magnitudes, and NaN and infinities by name.
pub fn format_number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "∞".into() } else { "−∞".into() };
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        return format!("{v:.3e}");
    }
    if v.fract() == 0.0 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Round bounds and ticks for the values `lo..=hi`: a step of 1, 2 or 5 × 10ⁿ giving about
/// four intervals.
pub fn nice_ticks(lo: f64, hi: f64) -> (f64, f64, Vec<f64>) {
    let (lo, hi) = if !(lo.is_finite() && hi.is_finite()) {
        (0.0, 1.0)
    } else if hi - lo < f64::EPSILON * hi.abs().max(1.0) {
        // A flat line sits in the middle of a band around its value.
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - pad, hi + pad)
    } else {
        (lo, hi)
    };
    let raw = (hi - lo) / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(raw);
    let start = (lo / step).floor() * step;
    let end = (hi / step).ceil() * step;
    let mut ticks = Vec::new();
    let mut t = start;
    while t <= end + step * 0.5 && ticks.len() < 12 {
        ticks.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    (start, end, ticks)
}

/// Ticks of the step axis: whole steps only, round ones when there are many.
fn step_ticks(min_s: i64, max_s: i64) -> Vec<i64> {
    let (_, _, ticks) = nice_ticks(min_s as f64, max_s as f64);
    let mut whole: Vec<i64> = ticks
        .into_iter()
        .filter(|s| s.fract() == 0.0 && *s >= min_s as f64 && *s <= max_s as f64)
        .map(|s| s as i64)
        .collect();
    whole.dedup();
    if whole.len() < 2 {
        whole = vec![min_s, max_s];
    }
    whole
}

/// The SVG path of a series; NaN and infinite values break the line.
fn series_path(points: &[(i64, f64)], x: impl Fn(i64) -> f64, y: impl Fn(f64) -> f64) -> String {
    let mut d = String::with_capacity(points.len() * 14);
    let mut pen_down = false;
    for (step, v) in points {
        if !v.is_finite() {
            pen_down = false;
            continue;
        }
        d.push_str(&format!("{}{:.1} {:.1} ", if pen_down { 'L' } else { 'M' }, x(*step), y(*v)));
        pen_down = true;
    }
    d
}

/// The point of a series nearest to `step`.
fn nearest(points: &[(i64, f64)], step: i64) -> Option<(i64, f64)> {
    let i = points.partition_point(|(s, _)| *s < step);
    let after = points.get(i);
    let before = i.checked_sub(1).and_then(|j| points.get(j));
    match (before, after) {
        (Some(b), Some(a)) => Some(if step - b.0 <= a.0 - step { *b } else { *a }),
        (Some(p), None) | (None, Some(p)) => Some(*p),
        (None, None) => None,
    }
}

/// A metric of one or more runs against the step.
#[component]
pub fn MetricChart(
    title: String,
    series: Signal<Vec<MetricSeries>>,
    /// `data-testid` of the chart.
    test_id: String,
) -> impl IntoView {
    let hover = RwSignal::new(None::<i64>);
    let bounds = Memo::new(move |_| {
        series.with(|all| {
            let steps = all.iter().flat_map(|s| s.points.iter().map(|p| p.0));
            let (min_s, max_s) = steps.fold((i64::MAX, i64::MIN), |(a, b), s| (a.min(s), b.max(s)));
            let finite = all.iter().flat_map(|s| s.points.iter().map(|p| p.1)).filter(|v| v.is_finite());
            let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
            let (min_s, max_s) = if min_s > max_s { (0, 1) } else { (min_s, max_s.max(min_s + 1)) };
            (min_s, max_s, nice_ticks(lo, hi))
        })
    });

    let on_hover = Callback::new(move |frac: Option<f64>| {
        let (from, to, _) = bounds.get_untracked();
        hover.set(frac.map(|f| from + ((to - from) as f64 * f).round() as i64));
    });
    let legend = Signal::derive(move || {
        series
            .get()
            .into_iter()
            .map(|s| LegendItem {
                class: line_class(s.color),
                value: Some(s.points.last().map(|p| format_number(p.1)).unwrap_or_else(|| "no points".into())),
                label: s.label,
            })
            .collect()
    });
    let readout = Signal::derive(move || {
        let step = hover.get()?;
        let parts = series
            .get()
            .iter()
            .filter_map(|s| {
                nearest(&s.points, step).map(|(at, v)| format!("{} {} (step {at})", s.label, format_number(v)))
            })
            .collect::<Vec<_>>()
            .join(" · ");
        Some(parts)
    });
    let plot = move || {
        let (min_s, max_s, (lo, hi, ticks)) = bounds.get();
        let span = (max_s - min_s) as f64;
        let x = move |s: i64| LEFT + (s - min_s) as f64 / span * (VW - LEFT - RIGHT);
        let y = move |v: f64| TOP + (1.0 - ((v - lo) / (hi - lo)).clamp(0.0, 1.0)) * (VH - TOP - BOTTOM);
        let y_ticks = ticks.iter().map(|v| (y(*v), format_number(*v))).collect();
        let x_ticks = step_ticks(min_s, max_s).into_iter().map(|s| (x(s), s.to_string())).collect();
        let lines = series
            .get()
            .iter()
            .map(|s| {
                let single = s.points.iter().filter(|p| p.1.is_finite()).count() == 1;
                let dot = single.then(|| {
                    let p = s.points.iter().find(|p| p.1.is_finite()).copied().unwrap_or((0, 0.0));
                    view! { <circle class=format!("dot {}", line_class(s.color)) cx=x(p.0) cy=y(p.1) r="3"></circle> }
                });
                view! {
                    <path class=format!("line {}", line_class(s.color)) d=series_path(&s.points, x, y)></path>
                    {dot}
                }
            })
            .collect_view();
        view! {
            {axes_view(y_ticks, x_ticks, hover.get().map(x))}
            {lines}
        }
    };
    let points = Signal::derive(move || series.with(|s| s.iter().map(|l| l.points.len()).sum::<usize>()));
    view! {
        <ChartFrame
            title=title
            test_id=test_id
            legend=legend
            readout=readout
            hint="Point at the chart to read values by step"
            on_hover=on_hover
            points=points
        >
            {plot}
        </ChartFrame>
    }
}

/// One line of a parallel-coordinates chart: a run's value on each axis (None: it has none).
#[derive(Clone, Debug, PartialEq)]
pub struct ParallelLine {
    pub label: String,
    pub color: usize,
    pub values: Vec<Option<f64>>,
}

/// Runs across several params and metrics: one vertical axis each, scaled to its own range,
/// and one line per run through its values.
#[component]
pub fn ParallelChart(axes: Vec<String>, lines: Vec<ParallelLine>) -> impl IntoView {
    const H: f64 = 260.0;
    const TOP_P: f64 = 34.0;
    const BOTTOM_P: f64 = 24.0;
    let n = axes.len().max(2);
    // Wide enough to fill a desktop card at its natural height; phones scroll it.
    let width = (n as f64 * 140.0).max(900.0);
    let x = move |i: usize| 50.0 + i as f64 * (width - 100.0) / (n - 1) as f64;
    let ranges: Vec<(f64, f64)> = (0..axes.len())
        .map(|i| {
            let vals = lines.iter().filter_map(|l| l.values.get(i).copied().flatten()).filter(|v| v.is_finite());
            let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
            if lo > hi {
                (0.0, 1.0)
            } else if hi - lo < f64::EPSILON {
                (lo - 1.0, hi + 1.0)
            } else {
                (lo, hi)
            }
        })
        .collect();
    let y = {
        let ranges = ranges.clone();
        move |i: usize, v: f64| {
            let (lo, hi) = ranges[i];
            TOP_P + (1.0 - (v - lo) / (hi - lo)) * (H - TOP_P - BOTTOM_P)
        }
    };
    let axes_view = axes
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (lo, hi) = ranges[i];
            let xx = x(i);
            view! {
                <line class="axis" x1=xx x2=xx y1=TOP_P y2=H - BOTTOM_P></line>
                <text class="axis-name" x=xx y=14.0 text-anchor="middle">{name.clone()}</text>
                <text class="tick" x=xx y=TOP_P - 6.0 text-anchor="middle">{format_number(hi)}</text>
                <text class="tick" x=xx y=H - 6.0 text-anchor="middle">{format_number(lo)}</text>
            }
        })
        .collect_view();
    let lines_view = lines
        .iter()
        .map(|l| {
            let mut d = String::new();
            let mut pen = false;
            for (i, v) in l.values.iter().enumerate() {
                match v.filter(|v| v.is_finite()) {
                    Some(v) => {
                        d.push_str(&format!("{}{:.1} {:.1} ", if pen { 'L' } else { 'M' }, x(i), y(i, v)));
                        pen = true;
                    }
                    None => pen = false,
                }
            }
            view! { <path class=format!("line {}", line_class(l.color)) d=d data-run=l.label.clone()></path> }
        })
        .collect_view();
    let legend = lines
        .iter()
        .map(|l| {
            view! {
                <li>
                    <span class=format!("swatch {}", line_class(l.color)) aria-hidden="true"></span>
                    {l.label.clone()}
                </li>
            }
        })
        .collect_view();
    view! {
        <figure class="chart card parallel" data-testid="parallel-chart" data-lines=lines.len()>
            <figcaption class="chart-head">
                <h3>"Parallel coordinates"</h3>
                <ul class="legend">{legend}</ul>
            </figcaption>
            <div class="parallel-scroll">
                <svg viewBox=format!("0 0 {width} {H}") role="img" aria-label="Runs across params and metrics">
                    {axes_view}
                    {lines_view}
                </svg>
            </div>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(format_number(0.912345), "0.9123");
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(f64::NAN), "NaN");
        assert_eq!(format_number(f64::NEG_INFINITY), "−∞");
        assert_eq!(format_number(1.5e-7), "1.500e-7");
        assert_eq!(format_number(-0.25), "-0.25");
    }

    #[test]
    fn ticks_cover_the_values_with_round_steps() {
        let (lo, hi, ticks) = nice_ticks(0.13, 0.92);
        assert!(lo <= 0.13 && hi >= 0.92, "{lo} {hi}");
        assert_eq!(ticks.first(), Some(&lo));
        assert!(ticks.len() >= 4 && ticks.len() <= 7, "{ticks:?}");
        let (lo, hi, _) = nice_ticks(-3.0, 5.0);
        assert!(lo <= -3.0 && hi >= 5.0);
        let (lo, hi, _) = nice_ticks(2.0, 2.0);
        assert!(lo < 2.0 && hi > 2.0, "a flat line gets a band");
        assert_eq!(nice_ticks(f64::INFINITY, f64::NEG_INFINITY).2.first(), Some(&0.0));
    }

    #[test]
    fn nan_breaks_a_line_and_nearest_finds_a_step() {
        let points = [(0, 1.0), (1, f64::NAN), (2, 2.0), (3, 3.0)];
        let d = series_path(&points, |s| s as f64, |v| v);
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(nearest(&points, 3), Some((3, 3.0)));
        assert_eq!(nearest(&points, 100), Some((3, 3.0)));
        assert_eq!(nearest(&[], 1), None);
    }

    #[test]
    fn step_ticks_are_whole_steps() {
        assert_eq!(step_ticks(0, 1), vec![0, 1]);
        assert_eq!(step_ticks(0, 2), vec![0, 1, 2]);
        let many = step_ticks(0, 999);
        assert_eq!(many, vec![0, 250, 500, 750], "round steps inside the range");
    }
}
