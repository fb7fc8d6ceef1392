//! Series arithmetic shared by server and browser: summarising many points into fewer (for the
//! stored minutes and for charts wider than their pixels) and trimming to a window.

use super::Point;

/// Summarises values into one point at `t_ms`: their mean, minimum and maximum. `None` for no
/// values.
pub fn summarise(t_ms: i64, values: impl IntoIterator<Item = f64>) -> Option<Point> {
    let (mut n, mut sum, mut min, mut max) = (0usize, 0.0, f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        n += 1;
        sum += v;
        min = min.min(v);
        max = max.max(v);
    }
    (n > 0).then(|| Point { t_ms, avg: sum / n as f64, min, max })
}

/// Reduces `points` (oldest first) to at most `buckets` points by splitting `[from_ms, to_ms]`
/// into equal spans: each span's mean of means, lowest minimum and highest maximum, at the time
/// of its newest point. Points outside the window are dropped; spans without points stay empty
/// (the chart shows the gap rather than inventing values).
pub fn downsample(points: &[Point], from_ms: i64, to_ms: i64, buckets: usize) -> Vec<Point> {
    let inside = points.iter().filter(|p| p.t_ms >= from_ms && p.t_ms <= to_ms);
    if buckets == 0 || to_ms <= from_ms {
        return Vec::new();
    }
    let in_window: Vec<&Point> = inside.collect();
    if in_window.len() <= buckets {
        return in_window.into_iter().copied().collect();
    }
    let span = ((to_ms - from_ms) as f64 / buckets as f64).max(1.0);
    let mut out: Vec<Point> = Vec::with_capacity(buckets);
    let mut current: Option<(usize, Point, usize)> = None; // (bucket, running point, count)
    for p in in_window {
        let bucket = (((p.t_ms - from_ms) as f64 / span) as usize).min(buckets - 1);
        match &mut current {
            Some((b, acc, n)) if *b == bucket => {
                acc.avg += p.avg;
                acc.min = acc.min.min(p.min);
                acc.max = acc.max.max(p.max);
                acc.t_ms = p.t_ms;
                *n += 1;
            }
            _ => {
                if let Some((_, acc, n)) = current.take() {
                    out.push(Point { avg: acc.avg / n as f64, ..acc });
                }
                current = Some((bucket, *p, 1));
            }
        }
    }
    if let Some((_, acc, n)) = current {
        out.push(Point { avg: acc.avg / n as f64, ..acc });
    }
    out
}

/// The value of the point nearest to `t_ms`, if one lies within `tolerance_ms` of it.
pub fn value_near(points: &[Point], t_ms: i64, tolerance_ms: i64) -> Option<f64> {
    let i = points.partition_point(|p| p.t_ms < t_ms);
    [i.checked_sub(1), Some(i)]
        .into_iter()
        .flatten()
        .filter_map(|i| points.get(i))
        .filter(|p| (p.t_ms - t_ms).abs() <= tolerance_ms)
        .min_by_key(|p| (p.t_ms - t_ms).abs())
        .map(|p| p.avg)
}

/// Drops points older than `from_ms` from the front of an oldest-first list.
pub fn trim_before(points: &mut Vec<Point>, from_ms: i64) {
    let keep_from = points.partition_point(|p| p.t_ms < from_ms);
    points.drain(..keep_from);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: i64) -> Vec<Point> {
        (0..n).map(|i| Point::exact(i * 1000, i as f64)).collect()
    }

    #[test]
    fn summary_is_mean_min_max_and_ignores_non_numbers() {
        let p = summarise(7, [1.0, 5.0, f64::NAN, 3.0]).unwrap();
        assert_eq!((p.t_ms, p.avg, p.min, p.max), (7, 3.0, 1.0, 5.0));
        assert_eq!(summarise(0, []), None);
    }

    #[test]
    fn few_points_pass_through_unchanged() {
        let points = ramp(10);
        assert_eq!(downsample(&points, 0, 9_000, 300), points);
    }

    #[test]
    fn many_points_become_at_most_the_bucket_count_and_keep_extremes() {
        let points = ramp(3600);
        let out = downsample(&points, 0, 3_599_000, 360);
        assert!(out.len() <= 360 && out.len() >= 359, "{}", out.len());
        assert_eq!(out.first().unwrap().min, 0.0);
        assert_eq!(out.last().unwrap().max, 3599.0);
        // Ten one-second points per bucket: the mean of 0..=9 is 4.5.
        assert_eq!(out[0].avg, 4.5);
        assert!(out.windows(2).all(|w| w[0].t_ms < w[1].t_ms));
        // Mean of the whole is preserved when buckets are equally full.
        let mean: f64 = out.iter().map(|p| p.avg).sum::<f64>() / out.len() as f64;
        assert!((mean - 1799.5).abs() < 1.0, "{mean}");
    }

    #[test]
    fn points_outside_the_window_are_dropped_and_gaps_stay_gaps() {
        let mut points = ramp(10);
        points.extend((110..120).map(|i| Point::exact(i * 1000, 1.0)));
        let out = downsample(&points, 5_000, 205_000, 4);
        assert!(out.iter().all(|p| p.t_ms >= 5_000));
        // Two clusters far apart land in two buckets, not four invented ones.
        assert_eq!(out.len(), 2, "{out:?}");
    }

    #[test]
    fn aggregated_points_keep_their_spread() {
        let points =
            vec![Point { t_ms: 0, avg: 2.0, min: 1.0, max: 3.0 }, Point { t_ms: 10, avg: 4.0, min: 0.5, max: 9.0 }];
        let out = downsample(&points, 0, 10, 1);
        assert_eq!(out, vec![Point { t_ms: 10, avg: 3.0, min: 0.5, max: 9.0 }]);
    }

    #[test]
    fn the_nearest_value_within_tolerance_is_found() {
        let points = ramp(10);
        assert_eq!(value_near(&points, 4_400, 1_000), Some(4.0));
        assert_eq!(value_near(&points, 4_600, 1_000), Some(5.0));
        assert_eq!(value_near(&points, 30_000, 1_000), None);
        assert_eq!(value_near(&[], 0, 1_000), None);
    }

    #[test]
    fn trimming_drops_only_old_points() {
        let mut points = ramp(10);
        trim_before(&mut points, 4_500);
        assert_eq!(points.first().unwrap().t_ms, 5_000);
        assert_eq!(points.len(), 5);
    }
}
