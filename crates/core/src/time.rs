//! Time: RFC 3339 instants and the relative forms the CLI accepts (`-1h`, `-7d`, `now`).

use chrono::{DateTime, Duration, SecondsFormat, Utc};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{input:?} is not a time: use RFC 3339 (2026-11-28T10:00:00Z), a relative offset (-15m, -1h, -7d, -2w) or \"now\""
)]
pub struct TimeError {
    pub input: String,
}

/// Now, as the stores write their row timestamps: RFC 3339 UTC with milliseconds
/// (`2026-11-28T10:00:00.123Z`), so that text order is time order.
pub fn now_millis() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The days from `since_day` (`YYYY-MM-DD`) through today (UTC), each with the next day: the
/// half-open text range `[day, next)` that holds every timestamp of that day in the stores' RFC
/// 3339 format. Nothing when `since_day` is not a date or lies ahead.
pub fn days_through_today(since_day: &str) -> Vec<(String, String)> {
    let Ok(mut day) = chrono::NaiveDate::parse_from_str(since_day, "%Y-%m-%d") else {
        return Vec::new();
    };
    let today = Utc::now().date_naive();
    let mut out = Vec::new();
    while day <= today {
        let Some(next) = day.succ_opt() else { break };
        out.push((day.to_string(), next.to_string()));
        day = next;
    }
    out
}

/// Parses an RFC 3339 time, or an offset before `now` such as `-90s`, `-15m`, `-1h`, `-7d`, `-2w`.
pub fn parse_instant(input: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeError> {
    let err = || TimeError {
        input: input.to_string(),
    };
    let s = input.trim();
    if s == "now" {
        return Ok(now);
    }
    if let Some(rel) = s.strip_prefix('-') {
        let (num, unit) = rel.split_at(rel.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?);
        let n: i64 = num.parse().map_err(|_| err())?;
        let d = match unit {
            "s" => Duration::try_seconds(n),
            "m" => Duration::try_minutes(n),
            "h" => Duration::try_hours(n),
            "d" => Duration::try_days(n),
            "w" => Duration::try_weeks(n),
            _ => None,
        }
        .ok_or_else(err)?;
        return now.checked_sub_signed(d).ok_or_else(err);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| err())
}

/// CloudTrail's own shape: `2026-11-28T10:00:00Z` (seconds, `Z`).
pub fn format_cloudtrail(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            format_cloudtrail(parse_instant("-1h", now).unwrap()),
            "2026-11-28T09:00:00Z"
        );
        assert_eq!(
            format_cloudtrail(parse_instant("-7d", now).unwrap()),
            "2026-11-21T10:00:00Z"
        );
        assert_eq!(
            format_cloudtrail(parse_instant("2026-01-02T03:04:05+01:00", now).unwrap()),
            "2026-01-02T02:04:05Z"
        );
        for bad in ["", "-", "-1y", "yesterday", "-h", "2026-13-01T00:00:00Z"] {
            assert!(parse_instant(bad, now).is_err(), "{bad:?}");
        }
    }
}
