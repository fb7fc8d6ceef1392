//! Cron times in a time zone: the next time after an instant, and the times a scheduler owes
//! after a gap (okrflow down, a pipeline paused) under the catch-up rule. Times are UTC
//! milliseconds; the cron pattern is read in the schedule's zone, so `0 6 * * *` in
//! Europe/Berlin is 06:00 there in summer and in winter.

use std::str::FromStr;

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;

use super::Schedule;

/// A parsed cron pattern with its zone.
#[derive(Clone, Debug)]
pub struct Cadence {
    cron: Cron,
    zone: Tz,
}

impl Cadence {
    /// Reads a pattern (five fields, or six with seconds first; `@daily` and the like) and an
    /// IANA zone; a failure names the field at fault (`schedule.cron` or `schedule.timezone`).
    pub fn parse(pattern: &str, zone: &str) -> Result<Cadence, (&'static str, String)> {
        let cron = Cron::from_str(pattern.trim())
            .map_err(|e| ("schedule.cron", format!("'{pattern}' is not a cron pattern: {e}")))?;
        let zone = Tz::from_str(zone.trim()).map_err(|_| {
            ("schedule.timezone", format!("'{zone}' is not a time zone (an IANA name such as Europe/Berlin or UTC)"))
        })?;
        Ok(Cadence { cron, zone })
    }

    pub fn of(schedule: &Schedule) -> Result<Cadence, (&'static str, String)> {
        Cadence::parse(&schedule.cron, &schedule.timezone)
    }

    /// The first time strictly after `after_ms`, or None when the pattern never fires again.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let after = Utc.timestamp_millis_opt(after_ms).single()?.with_timezone(&self.zone);
        let next = self.cron.find_next_occurrence(&after, false).ok()?;
        Some(next.timestamp_millis())
    }

    /// The times in (`since_ms`, `now_ms`] a scheduler owes runs for, oldest first: all of them
    /// up to the `max` most recent with `catchup`, else only the most recent (the missed ones
    /// are skipped, as a schedule that was off should not flood the queue when it comes back).
    /// Looks at no more than 100,000 times, so a per-second pattern after a year away stays cheap.
    pub fn due(&self, since_ms: i64, now_ms: i64, catchup: bool, max: u32) -> Vec<i64> {
        let keep = if catchup { max.max(1) as usize } else { 1 };
        let mut times = std::collections::VecDeque::with_capacity(keep);
        let mut at = since_ms;
        for _ in 0..100_000 {
            match self.next_after(at) {
                Some(t) if t <= now_ms => {
                    if times.len() == keep {
                        times.pop_front();
                    }
                    times.push_back(t);
                    at = t;
                }
                _ => break,
            }
        }
        times.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
    }

    fn show(ms: i64, zone: Tz) -> String {
        Utc.timestamp_millis_opt(ms).unwrap().with_timezone(&zone).format("%Y-%m-%d %H:%M %Z").to_string()
    }

    #[test]
    fn patterns_follow_the_zone_across_daylight_saving() {
        let berlin = Cadence::parse("0 6 * * *", "Europe/Berlin").unwrap();
        // 06:00 in Berlin is 05:00 UTC in winter and 04:00 UTC in summer.
        let before = utc("2026-03-28T12:00:00Z");
        let a = berlin.next_after(before).unwrap();
        let b = berlin.next_after(a).unwrap();
        assert_eq!(show(a, Tz::UTC), "2026-03-29 04:00 UTC", "the morning after the change");
        assert_eq!(show(b, Tz::UTC), "2026-03-30 04:00 UTC");
        assert_eq!(show(berlin.next_after(utc("2026-10-24T12:00:00Z")).unwrap(), Tz::UTC), "2026-10-25 05:00 UTC");
        assert_eq!(b - a, 24 * 3600 * 1000);
    }

    #[test]
    fn a_skipped_or_repeated_local_time_fires_once() {
        // 02:30 does not exist in Berlin on 2026-03-29 (02:00 → 03:00) and exists twice on
        // 2026-10-25 (03:00 → 02:00). Either way the day gets one run.
        let c = Cadence::parse("30 2 * * *", "Europe/Berlin").unwrap();
        let spring = c.due(utc("2026-03-28T12:00:00Z"), utc("2026-03-30T12:00:00Z"), true, 10);
        assert_eq!(spring.len(), 2, "{:?}", spring.iter().map(|t| show(*t, c.zone)).collect::<Vec<_>>());
        assert!(show(spring[0], c.zone).starts_with("2026-03-29 03:"), "{}", show(spring[0], c.zone));
        let autumn = c.due(utc("2026-10-24T12:00:00Z"), utc("2026-10-26T12:00:00Z"), true, 10);
        assert_eq!(autumn.len(), 2, "{:?}", autumn.iter().map(|t| show(*t, c.zone)).collect::<Vec<_>>());
        assert!(show(autumn[0], c.zone).starts_with("2026-10-25 02:30"), "{}", show(autumn[0], c.zone));
    }

    #[test]
    fn catch_up_is_off_or_bounded() {
        let hourly = Cadence::parse("0 * * * *", "UTC").unwrap();
        let since = utc("2026-05-01T00:00:00Z");
        let now = utc("2026-05-01T10:30:00Z"); // ten hours missed: 01:00 … 10:00
        assert_eq!(hourly.due(since, now, false, 1), [utc("2026-05-01T10:00:00Z")], "only the latest");
        let bounded = hourly.due(since, now, true, 3);
        assert_eq!(bounded, [utc("2026-05-01T08:00:00Z"), utc("2026-05-01T09:00:00Z"), utc("2026-05-01T10:00:00Z")]);
        assert_eq!(hourly.due(since, now, true, 100).len(), 10);
        assert!(hourly.due(now, now, true, 10).is_empty(), "nothing owed yet");
        // The boundary is the time itself: a run due at exactly now is owed now.
        assert_eq!(hourly.due(since, utc("2026-05-01T01:00:00Z"), false, 1), [utc("2026-05-01T01:00:00Z")]);
    }

    #[test]
    fn bad_patterns_and_zones_name_their_field() {
        let (field, message) = Cadence::parse("61 * * * *", "UTC").unwrap_err();
        assert_eq!(field, "schedule.cron");
        assert!(message.contains("61 * * * *"), "{message}");
        assert_eq!(Cadence::parse("* * *", "UTC").unwrap_err().0, "schedule.cron");
        let (field, message) = Cadence::parse("0 6 * * *", "Mars/Olympus").unwrap_err();
        assert_eq!(field, "schedule.timezone");
        assert!(message.contains("Mars/Olympus"), "{message}");
        assert!(Cadence::parse("@daily", "UTC").is_ok());
    }
}
