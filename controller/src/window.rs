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
    /// When the member last started (Docker's `StartedAt`) and how often the engine restarted
    /// it (`RestartCount`), to count restarts.
    pub started: Option<String>,
    pub restart_count: Option<i64>,
    /// The engine says the member's last end was an OOM kill.
    pub oom_killed: bool,
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
    /// Whether the group's files count OOM kills at all (the engine's stats do not).
    oom_known: bool,
    /// Restarts that followed an OOM kill of the main process: the kill took the group and
    /// its counter along, only the engine's state tells.
    engine_ooms: u64,
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
    /// `None` where nothing counts them (a reading from the engine's stats).
    pub oom_kills: Option<u64>,
    pub restarts: u64,
}

impl Series {
    pub fn add(&mut self, s: Sample) {
        let r = s.reading;
        self.samples += 1;
        self.sum_memory += r.memory as f64;
        self.max_memory = self.max_memory.max(r.memory);
        self.current = r.memory;
        self.oom_known |= r.oom_kills.is_some();
        if let Some(prev) = &self.last {
            let span = s.at.saturating_duration_since(prev.at).as_secs_f64();
            let by_engine = match (s.restart_count, prev.restart_count) {
                (Some(now), Some(before)) if now > before => (now - before) as u64,
                _ => 0,
            };
            let started_again = s.started.is_some() && prev.started.is_some() && s.started != prev.started;
            let went_back = r.cpu_nanos < prev.reading.cpu_nanos;
            let restarts = by_engine.max(u64::from(started_again || went_back));
            // A restarted container has a new group: its counters began again from zero.
            let fresh = restarts > 0;
            self.cpu_nanos += if fresh { r.cpu_nanos } else { r.cpu_nanos - prev.reading.cpu_nanos };
            self.cpu_span += span;
            if let Some(now) = r.oom_kills {
                let before = prev.reading.oom_kills.filter(|_| !fresh).unwrap_or(0);
                self.oom_kills += now.saturating_sub(before);
            }
            self.restarts += restarts;
            if fresh && s.oom_killed {
                self.engine_ooms += 1;
                self.oom_known = true;
            }
        }
        self.last = Some(s);
    }

    /// The member's main process was OOM-killed and it did not start again (its group, and
    /// the group's counter, went with it).
    pub fn ended_by_oom(&mut self) {
        self.engine_ooms += 1;
        self.oom_known = true;
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
            // A kill of a child is in the group's counter, of the main process in the
            // engine's state: the larger count is the truer.
            oom_kills: self.oom_known.then_some(self.oom_kills.max(self.engine_ooms)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sample(at: Instant, memory_mb: u64, cpu_s: f64, oom: u64, started: &str, restarts: i64) -> Sample {
        Sample {
            at,
            reading: Reading {
                memory: memory_mb << 20,
                cpu_nanos: (cpu_s * 1e9) as u64,
                oom_kills: Some(oom),
            },
            started: Some(started.to_owned()),
            restart_count: Some(restarts),
            oom_killed: false,
        }
    }

    #[test]
    fn a_window_averages_its_samples_and_sums_counters_across_a_restart() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut series = Series::default();
        series.add(sample(at(0), 100, 10.0, 1, "a", 0));
        series.add(sample(at(10), 200, 12.0, 2, "a", 0)); // 2 s of CPU in 10 s, one OOM kill
                                                          // Restarted twice by the engine: the group began again (CPU and OOM from zero).
        series.add(sample(at(20), 60, 1.0, 0, "b", 2));
        let f = series.take();
        assert_eq!(f.samples, 3);
        assert_eq!((f.memory_current_mb, f.memory_peak_mb, f.memory_avg_mb), (60.0, 200.0, 120.0));
        assert!((f.cpu_avg_percent - 15.0).abs() < 1e-9, "3 s of CPU over 20 s: {}", f.cpu_avg_percent);
        assert_eq!((f.oom_kills, f.restarts), (Some(1), 2));

        // The next window runs its counters from the last sample; memory from its own.
        series.add(sample(at(30), 80, 2.0, 0, "b", 2));
        let g = series.take();
        assert_eq!((g.samples, g.memory_avg_mb, g.restarts, g.oom_kills), (1, 80.0, 0, Some(0)));
        assert!((g.cpu_avg_percent - 10.0).abs() < 1e-9);
    }

    #[test]
    fn oom_kills_are_unknown_where_nothing_counts_them() {
        let mut series = Series::default();
        let reading = Reading { memory: 1 << 20, cpu_nanos: 0, oom_kills: None };
        series.add(Sample {
            at: Instant::now(),
            reading,
            started: None,
            restart_count: None,
            oom_killed: false,
        });
        assert_eq!(series.take().oom_kills, None);
    }
}
