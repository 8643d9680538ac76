//! Memory-limit advice for one app: the seed's rule (`ceil(P95 × 1.2)` rounded up to a multiple
//! of 32 MB) with what it rests on, and what rightsizing tools add: enough data or not, the
//! spread across customers, who would exceed the suggestion, outliers, OOM kills, and the
//! difference from the catalog's limit.

use serde::Serialize;

/// Fewer deployments than this: too few to advise.
pub const MIN_DEPLOYMENTS: usize = 3;
/// Reports spanning less than this (seconds): too short to advise.
pub const MIN_SPAN_SECS: i64 = 24 * 3600;
/// The seed's headroom over P95.
pub const HEADROOM: f64 = 1.2;
pub const RULE: &str = "ceil(P95 of memory peaks x 1.2), rounded up to a multiple of 32 MB";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advice {
    /// The advised limit; `None` when the data is too thin (then `reason` says why).
    pub suggested_limit_mb: Option<u64>,
    /// What the rule alone gives (before any raise for OOM kills).
    pub rule_limit_mb: Option<u64>,
    pub rule: &'static str,
    pub reason: Option<String>,
    /// The fleet P95 of memory peaks it comes from.
    pub p95_memory_mb: Option<f64>,
    pub deployments: usize,
    pub reports: u64,
    /// Days between the period's first and last report.
    pub days: f64,
    /// Spread of customers' peaks (each customer's highest peak in the period).
    pub customer_peak_p50_mb: Option<f64>,
    pub customer_peak_p95_mb: Option<f64>,
    pub customer_peak_max_mb: Option<f64>,
    /// Customers whose peak exceeds the suggestion.
    pub customers_over: Vec<String>,
    /// Customers whose peak is far from the others (above Q3 + 1.5 × IQR of customers' peaks).
    pub outliers: Vec<String>,
    pub oom_kills: u64,
    /// Whether OOM kills raised the suggestion above the rule: peaks are capped at the limit
    /// when the kernel kills, so the data understates the need.
    pub raised_for_oom: bool,
    pub current_limit_mb: Option<f64>,
    /// Suggested minus current limit.
    pub difference_mb: Option<f64>,
}

/// The seed's rounding: up to a whole MB, then up to a multiple of 32.
pub fn round_up_32(mb: f64) -> u64 {
    let whole = mb.max(0.0).ceil() as u64;
    whole.div_ceil(32) * 32
}

/// What the advice is computed from.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub p95_memory_mb: Option<f64>,
    pub reports: u64,
    pub span_secs: i64,
    /// Each customer's highest peak in the period.
    pub customer_peaks: &'a [(String, f64)],
    pub oom_kills: u64,
    pub current_limit_mb: Option<f64>,
}

pub fn advise(i: &Inputs<'_>) -> Advice {
    let mut peaks: Vec<f64> = i.customer_peaks.iter().map(|(_, p)| *p).collect();
    peaks.sort_by(f64::total_cmp);
    let at =
        |q: f64| (!peaks.is_empty()).then(|| peaks[((peaks.len() as f64 * q) as usize).min(peaks.len() - 1)]);
    let rule_limit = i.p95_memory_mb.map(|p| round_up_32(p * HEADROOM));
    let mut suggested = rule_limit;
    let mut raised_for_oom = false;
    if let (Some(s), Some(limit), true) = (suggested, i.current_limit_mb, i.oom_kills > 0) {
        let raised = round_up_32(limit * HEADROOM);
        if raised > s {
            suggested = Some(raised);
            raised_for_oom = true;
        }
    }
    let deployments = i.customer_peaks.len();
    let reason = if i.p95_memory_mb.is_none() {
        Some("no reports in the period".to_owned())
    } else if deployments < MIN_DEPLOYMENTS || i.span_secs < MIN_SPAN_SECS {
        Some(format!(
            "too little data to advise: {deployments} deployment(s) over {:.1} day(s); advice needs at least \
             {MIN_DEPLOYMENTS} deployments and {} day(s) of reports",
            i.span_secs as f64 / 86400.0,
            MIN_SPAN_SECS / 86400
        ))
    } else {
        None
    };
    let outliers = match (at(0.25), at(0.75)) {
        (Some(q1), Some(q3)) if deployments >= 4 => {
            let fence = q3 + 1.5 * (q3 - q1);
            i.customer_peaks.iter().filter(|(_, p)| *p > fence).map(|(c, _)| c.clone()).collect()
        }
        _ => Vec::new(),
    };
    let advised = if reason.is_some() { None } else { suggested };
    Advice {
        suggested_limit_mb: advised,
        rule_limit_mb: rule_limit,
        rule: RULE,
        reason,
        p95_memory_mb: i.p95_memory_mb,
        deployments,
        reports: i.reports,
        days: (i.span_secs as f64 / 86400.0 * 10.0).round() / 10.0,
        customer_peak_p50_mb: at(0.5),
        customer_peak_p95_mb: at(0.95),
        customer_peak_max_mb: peaks.last().copied(),
        customers_over: match suggested {
            Some(s) => {
                i.customer_peaks.iter().filter(|(_, p)| *p > s as f64).map(|(c, _)| c.clone()).collect()
            }
            None => Vec::new(),
        },
        outliers,
        oom_kills: i.oom_kills,
        raised_for_oom: raised_for_oom && advised.is_some(),
        current_limit_mb: i.current_limit_mb,
        difference_mb: advised.zip(i.current_limit_mb).map(|(s, c)| s as f64 - c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peaks(v: &[f64]) -> Vec<(String, f64)> {
        v.iter().enumerate().map(|(i, p)| (format!("c{i}"), *p)).collect()
    }

    #[test]
    fn the_seeds_rule_rounds_up_to_32() {
        assert_eq!(round_up_32(300.0 * 1.2), 384);
        assert_eq!(round_up_32(320.0), 320);
        assert_eq!(round_up_32(320.1), 352);
        assert_eq!(round_up_32(0.0), 0);
    }

    #[test]
    fn advice_says_when_data_is_too_thin_and_flags_outliers_and_oom() {
        let few = peaks(&[100.0, 110.0]);
        let a = advise(&Inputs {
            p95_memory_mb: Some(110.0),
            reports: 10,
            span_secs: 2 * 86400,
            customer_peaks: &few,
            oom_kills: 0,
            current_limit_mb: Some(512.0),
        });
        assert_eq!(a.suggested_limit_mb, None);
        assert!(a.reason.as_deref().unwrap().contains("2 deployment(s)"), "{a:?}");

        let many = peaks(&[100.0, 105.0, 110.0, 120.0, 400.0]);
        let a = advise(&Inputs {
            p95_memory_mb: Some(300.0),
            reports: 500,
            span_secs: 7 * 86400,
            customer_peaks: &many,
            oom_kills: 0,
            current_limit_mb: Some(512.0),
        });
        assert_eq!(a.suggested_limit_mb, Some(384));
        assert_eq!(a.customers_over, ["c4"]);
        assert_eq!(a.outliers, ["c4"]);
        assert_eq!(a.difference_mb, Some(-128.0));

        let a = advise(&Inputs {
            oom_kills: 3,
            current_limit_mb: Some(384.0),
            ..Inputs { customer_peaks: &many, ..a_inputs(&many) }
        });
        assert!(a.raised_for_oom);
        assert_eq!(a.suggested_limit_mb, Some(480), "ceil(384 x 1.2) = 461 -> 480");
    }

    fn a_inputs(p: &[(String, f64)]) -> Inputs<'_> {
        Inputs {
            p95_memory_mb: Some(300.0),
            reports: 500,
            span_secs: 7 * 86400,
            customer_peaks: p,
            oom_kills: 0,
            current_limit_mb: None,
        }
    }
}
