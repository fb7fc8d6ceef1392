//! Numbers as people read them: bytes, rates, durations. Deterministic, so the server's render
//! and the browser's hydration agree.

const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];

/// "1.2 MB" from bytes (decimal units, as file managers show them).
pub fn format_bytes(bytes: u64) -> String {
    let (value, unit) = scale(bytes as f64);
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// "3.4 MB/s" from bytes per second.
pub fn format_rate(bytes_per_sec: f64) -> String {
    let (value, unit) = scale(bytes_per_sec.max(0.0));
    if unit == 0 {
        format!("{value:.0} B/s")
    } else {
        format!("{value:.1} {}/s", UNITS[unit])
    }
}

fn scale(mut value: f64) -> (f64, usize) {
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    (value, unit)
}

/// "3d 4h", "2h 5m", "42s": an uptime or age.
pub fn format_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_in_decimal_units() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1_500), "1.5 KB");
        assert_eq!(format_bytes(2_000_000_000), "2.0 GB");
    }

    #[test]
    fn rates_read_per_second() {
        assert_eq!(format_rate(12.4), "12 B/s");
        assert_eq!(format_rate(3_400_000.0), "3.4 MB/s");
        assert_eq!(format_rate(-1.0), "0 B/s");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(42), "42s");
        assert_eq!(format_duration(125), "2m 5s");
        assert_eq!(format_duration(3 * 3600 + 120), "3h 2m");
        assert_eq!(format_duration(2 * 86_400 + 5 * 3600), "2d 5h");
    }
}
