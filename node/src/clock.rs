//! Time comes from an injected clock, so tests can move it.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveDate, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch, UTC.
    fn now_ms(&self) -> i64;

    /// Today's date in China Standard Time (UTC+8), the officers' calendar.
    fn today(&self) -> NaiveDate {
        let cst_ms = self.now_ms().saturating_add(8 * 3_600_000);
        DateTime::<Utc>::from_timestamp_millis(cst_ms)
            .map(|t| t.date_naive())
            .unwrap_or_default()
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis()
    }
}

/// The environment variable that moves `fundsync serve`'s clock by a fixed
/// number of milliseconds (negative: back), for fault tests of a node
/// whose clock is wrong (`bench chaos` restarts a node with it to jump its
/// clock). Unset or 0: the system clock.
pub const CLOCK_OFFSET_ENV: &str = "FUNDSYNC_CLOCK_OFFSET_MS";

/// The system clock moved by a fixed offset (ms); see [`CLOCK_OFFSET_ENV`].
#[derive(Debug, Default, Clone, Copy)]
pub struct OffsetClock(pub i64);

impl OffsetClock {
    /// The offset [`CLOCK_OFFSET_ENV`] asks for: `None` when unset or 0,
    /// an error when it is not a whole number.
    pub fn from_env() -> Result<Option<Self>, String> {
        match std::env::var(CLOCK_OFFSET_ENV) {
            Err(_) => Ok(None),
            Ok(v) => match v.trim().parse::<i64>() {
                Ok(0) => Ok(None),
                Ok(ms) => Ok(Some(Self(ms))),
                Err(e) => Err(format!("{CLOCK_OFFSET_ENV}={v:?}: {e}")),
            },
        }
    }
}

impl Clock for OffsetClock {
    fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis().saturating_add(self.0)
    }
}

/// A clock that stands still until moved; for tests and replaying history.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now_ms: i64) -> Self {
        Self(AtomicI64::new(now_ms))
    }
    pub fn set(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
