//! The time contract: a run for date D sees every event with a timestamp before
//! D+1 00:00 UTC and nothing later. Windows look back as (D - n, D] in whole UTC
//! days; labels look forward as (C, C + h].

use chrono::{DateTime, Days, NaiveDate, Utc};

use crate::error::{Error, Result};

/// The last complete day of data a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunDate(pub NaiveDate);

impl RunDate {
    pub fn parse(s: &str) -> Result<Self> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(RunDate)
            .map_err(|e| Error::config(format!("run date `{s}` is not YYYY-MM-DD: {e}")))
    }

    /// The first instant that is *after* the run date: D+1 00:00:00 UTC.
    /// Events at or after it are in the future of this run.
    pub fn end_exclusive(self) -> DateTime<Utc> {
        let next = self
            .0
            .checked_add_days(Days::new(1))
            .unwrap_or(NaiveDate::MAX);
        next.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// `end_exclusive` in microseconds since the epoch (the canonical unit).
    pub fn end_exclusive_micros(self) -> i64 {
        self.end_exclusive().timestamp_micros()
    }
}

impl std::fmt::Display for RunDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// As `YYYY-MM-DD`, the way every file and manifest writes dates.
impl serde::Serialize for RunDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RunDate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RunDate::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_of_run_date_is_next_midnight_utc() {
        let d = RunDate::parse("2026-11-22").expect("date");
        assert_eq!(d.end_exclusive().to_rfc3339(), "2026-11-23T00:00:00+00:00");
        assert_eq!(d.to_string(), "2026-11-22");
    }

    #[test]
    fn bad_dates_are_config_errors() {
        let e = RunDate::parse("22/11/2026").expect_err("bad format");
        assert_eq!(e.kind(), crate::error::ErrorKind::Config);
    }
}
