//! Per-second rates from cumulative counters (disk bytes read and written, network bytes), which
//! do not always only grow: 32-bit interface counters wrap, and counters start again from zero
//! when a device or driver is reset or a disk is re-attached.

use std::collections::HashMap;

/// A counter that fell from near the top of the 32-bit range to a small value wrapped rather
/// than reset; how near the top it must have been.
const WRAP_ZONE: u64 = 1 << 30;
const U32_SPAN: u64 = 1 << 32;

/// How much a counter grew between two readings. `None` when it cannot be known: it went
/// backwards in a way that is not a 32-bit wrap, which means it was reset.
pub fn delta(previous: u64, current: u64) -> Option<u64> {
    if current >= previous {
        Some(current - previous)
    } else if (U32_SPAN - WRAP_ZONE..U32_SPAN).contains(&previous) && current < WRAP_ZONE {
        Some(U32_SPAN - previous + current)
    } else {
        None
    }
}

/// The rate per second between two readings `secs` apart. A reset or a zero interval gives 0
/// for that interval, never a negative or astronomic value.
pub fn per_second(previous: u64, current: u64, secs: f64) -> f64 {
    match delta(previous, current) {
        Some(d) if secs > 0.0 => d as f64 / secs,
        _ => 0.0,
    }
}

/// The last reading of many named counters, turning each new reading into a rate.
#[derive(Debug, Default)]
pub struct Counters {
    last: HashMap<String, u64>,
}

impl Counters {
    /// The rate of counter `name` since its previous reading `secs` ago; 0 on its first reading.
    pub fn rate(&mut self, name: &str, current: u64, secs: f64) -> f64 {
        match self.last.insert(name.to_string(), current) {
            Some(previous) => per_second(previous, current, secs),
            None => 0.0,
        }
    }

    /// Forgets counters not seen in this round (unplugged disks, removed interfaces).
    pub fn retain(&mut self, seen: &std::collections::HashSet<String>) {
        self.last.retain(|k, _| seen.contains(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_over_time_is_a_rate() {
        assert_eq!(per_second(1_000, 3_000, 2.0), 1_000.0);
        assert_eq!(per_second(5, 5, 1.0), 0.0);
    }

    #[test]
    fn a_32_bit_counter_that_wraps_keeps_counting() {
        let before = u32::MAX as u64 - 99; // 100 below the top
        assert_eq!(delta(before, 400), Some(500));
        assert_eq!(per_second(before, 400, 0.5), 1_000.0);
    }

    #[test]
    fn a_reset_counter_gives_zero_not_a_huge_or_negative_rate() {
        assert_eq!(delta(10_000_000_000, 12), None);
        assert_eq!(per_second(10_000_000_000, 12, 1.0), 0.0);
        // Small counters that fall back are resets too, not wraps.
        assert_eq!(delta(5_000, 10), None);
    }

    #[test]
    fn a_zero_interval_is_not_a_division_by_zero() {
        assert_eq!(per_second(0, 100, 0.0), 0.0);
    }

    #[test]
    fn named_counters_start_at_zero_and_follow_resets() {
        let mut c = Counters::default();
        assert_eq!(c.rate("eth0", 1_000, 1.0), 0.0, "first reading has no rate");
        assert_eq!(c.rate("eth0", 3_000, 1.0), 2_000.0);
        assert_eq!(c.rate("eth0", 100, 1.0), 0.0, "reset");
        assert_eq!(c.rate("eth0", 600, 1.0), 500.0, "counting again from the reset");
        c.retain(&Default::default());
        assert_eq!(c.rate("eth0", 900, 1.0), 0.0, "forgotten interface starts again");
    }
}
