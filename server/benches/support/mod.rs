//! What the benchmarks share: percentiles and the session cookie out of a login response.
#![allow(dead_code)]

/// The `p`th percentile (nearest rank) of sorted figures.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The `okrflow_session=…` pair among a login response's `Set-Cookie` values.
pub fn session_cookie<'a>(set_cookie: impl Iterator<Item = &'a str>) -> Option<String> {
    set_cookie
        .filter(|c| c.starts_with("okrflow_session=") && !c.starts_with("okrflow_session=;"))
        .map(|c| c.split(';').next().unwrap_or_default().to_string())
        .next()
}
