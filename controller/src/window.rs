//! [`Series`]: one member's samples over a report window (the seed's `container_metrics` rows
//! of the last window, kept in memory), and the figures a report gives of them.
//!
//! The peak is the highest sample, as the seed's `MAX(mem_usage_mb)`: the kernel's own
//! high-water mark counts page cache and never resets, so it cannot stand for a window.
//!
//! Counters (CPU time, OOM kills) are summed over consecutive samples, so a window keeps its
//! CPU from the last sample of the window before, and a counter that went back (the container
//! restarted and its group began again) counts from zero rather than going negative.

use std::time::Instant;

use crate::cgroup::Reading;

const MB: f64 = 1024.0 * 1024.0;

/// What one sample saw of a member.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub at: Instant,
    pub reading: Reading,
    /// When the member last started (Docker's `StartedAt`), to count restarts.
    pub started: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub struct Series {
    samples: u64,
    sum_memory: f64,
    max_memory: u64,
    current: u64,
    cpu_nanos: u64,
    cpu_span: f64,
    oom_kills: u64,
    restarts: u64,
    last: Option<Sample>,
}

/// A member's figures over a window, in the seed's units.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Figures {
    pub memory_current_mb: f64,
    pub memory_avg_mb: f64,
    pub memory_peak_mb: f64,
    pub cpu_avg_percent: f64,
    pub samples: u64,
    pub oom_kills: u64,
    pub restarts: u64,
}

impl Series {
    pub fn add(&mut self, s: Sample) {
        let r = s.reading;
        self.samples += 1;
        self.sum_memory += r.memory as f64;
        self.max_memory = self.max_memory.max(r.memory);
        self.current = r.memory;
        if let Some(prev) = &self.last {
            let span = s.at.saturating_duration_since(prev.at).as_secs_f64();
            let restarted = s.started.is_some() && prev.started.is_some() && s.started != prev.started;
            let went_back = r.cpu_nanos < prev.reading.cpu_nanos;
            self.cpu_nanos += if went_back { r.cpu_nanos } else { r.cpu_nanos - prev.reading.cpu_nanos };
            self.cpu_span += span;
            if let (Some(now), Some(before)) = (r.oom_kills, prev.reading.oom_kills) {
                self.oom_kills += if now < before { now } else { now - before };
            }
            if restarted || went_back {
                self.restarts += 1;
            }
        }
        self.last = Some(s);
    }

    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }

    /// The window's figures; the series starts the next window from its last sample.
    pub fn take(&mut self) -> Figures {
        let figures = Figures {
            memory_current_mb: self.current as f64 / MB,
            memory_avg_mb: if self.samples == 0 { 0.0 } else { self.sum_memory / self.samples as f64 / MB },
            memory_peak_mb: self.max_memory as f64 / MB,
            cpu_avg_percent: if self.cpu_span > 0.0 {
                self.cpu_nanos as f64 / 1e9 / self.cpu_span * 100.0
            } else {
                0.0
            },
            samples: self.samples,
            oom_kills: self.oom_kills,
            restarts: self.restarts,
        };
        let last = self.last.take();
        *self = Series::default();
        if let Some(last) = last {
            // The next window's CPU and counters run from here; its memory from its own samples.
            self.last = Some(last);
        }
        figures
    }
}
