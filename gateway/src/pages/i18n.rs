//! The message catalog of the pages, in English and Hungarian (the seed's pages were Hungarian).
//!
//! A page's language is `?lang=en|hu` when given (the switch in the header; it is kept in the
//! `tailrace_lang` cookie), else that cookie, else the first of English and Hungarian in the
//! browser's `Accept-Language` by its q-values, else English. Server-rendered text comes from
//! [`t`]; the page's script gets the whole catalog of its language as JSON ([`catalog_json`]).

use axum::extract::FromRequestParts;
use axum::http::header::{ACCEPT_LANGUAGE, COOKIE};
use axum::http::request::Parts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Hu,
}

/// Key, English, Hungarian.
const MESSAGES: &[(&str, &str, &str)] = &[
    ("nav./", "Overview", "Áttekintés"),
    ("nav./realtimelog", "Live tail", "Élő napló"),
    ("nav./subject", "Subjects", "Témák"),
    ("nav./logs", "Synced logs", "Szinkronizált naplók"),
    ("nav./issues", "Issues", "Hibák"),
    ("nav./apps", "Apps", "Alkalmazások"),
    ("nav./customers", "Customers", "Ügyfelek"),
    ("language", "Language", "Nyelv"),
    ("loading", "loading…", "betöltés…"),
    ("apps.title", "Apps", "Alkalmazások"),
    ("apps.total", "Apps", "Alkalmazások"),
    ("apps.deployments", "Deployments", "Telepítések"),
    ("apps.with_errors", "Apps with errors", "Hibás alkalmazások"),
    ("apps.none", "No reports in this period.", "Ebben az időszakban nincs jelentés."),
    ("period", "Period", "Időszak"),
    ("period.24h", "24 hours", "24 óra"),
    ("period.7d", "7 days", "7 nap"),
    ("period.30d", "30 days", "30 nap"),
    ("col.app", "App", "Alkalmazás"),
    ("col.deployments", "Deployments", "Telepítések"),
    ("col.avg_memory", "Avg memory", "Átlag memória"),
    ("col.peak_memory", "Peak memory", "Csúcs memória"),
    ("col.p95_memory", "P95 memory", "P95 memória"),
    ("col.estimate", "Catalog estimate", "Katalógus becslés"),
    ("col.limit", "Catalog limit", "Katalógus limit"),
    ("col.accuracy", "Estimate accuracy", "Becslés pontossága"),
    ("col.errors", "Errors", "Hibák"),
    ("col.warnings", "Warnings", "Figyelmeztetések"),
    ("col.customer", "Customer", "Ügyfél"),
    ("col.cpu", "Avg CPU", "Átlag CPU"),
    ("col.reports", "Reports", "Jelentések"),
    ("col.last_report", "Last report", "Utolsó jelentés"),
    ("col.apps", "Apps", "Alkalmazások"),
    ("col.memory_current", "Memory (current)", "Memória (jelenlegi)"),
    ("col.memory_avg", "Memory (average)", "Memória (átlag)"),
    ("col.memory_peak", "Memory (peak)", "Memória (csúcs)"),
    ("col.severity", "Severity", "Súlyosság"),
    ("col.message", "Message", "Üzenet"),
    ("col.occurrences", "Occurrences", "Előfordulások"),
    ("col.affected", "Affected customers", "Érintett ügyfelek"),
    ("col.first_seen", "First seen", "Első észlelés"),
    ("col.last_seen", "Last seen", "Utolsó észlelés"),
    ("accuracy.green", "P95 well under the limit", "P95 jóval a limit alatt"),
    ("accuracy.yellow", "P95 over half of the limit", "P95 a limit felén túl"),
    ("accuracy.red", "P95 over the limit", "P95 a limit felett"),
    ("accuracy.unknown", "no limit to compare", "nincs összevethető limit"),
    ("app.overview", "Overview", "Áttekintés"),
    ("app.suggested", "Suggested mem_limit", "Javasolt mem_limit"),
    (
        "app.rests_on",
        "from P95 {p95} MB × 1.2 over {deployments} deployments, {reports} reports, {days} days",
        "P95 {p95} MB × 1,2 alapján, {deployments} telepítés, {reports} jelentés, {days} nap",
    ),
    ("app.no_advice", "No advice", "Nincs javaslat"),
    (
        "app.spread",
        "Customers' peaks: P50 {p50} MB, P95 {p95} MB, max {max} MB",
        "Ügyfelek csúcsai: P50 {p50} MB, P95 {p95} MB, max {max} MB",
    ),
    ("app.over", "Over the suggestion", "A javaslat felett"),
    ("app.outliers", "Outliers", "Kiugró értékek"),
    (
        "app.oom",
        "OOM kills raised the suggestion ({n} kills)",
        "OOM leállítások emelték a javaslatot ({n} leállítás)",
    ),
    ("app.difference", "Difference from the catalog limit", "Eltérés a katalógus limittől"),
    ("app.memory", "Memory", "Memória"),
    ("app.avg", "Average", "Átlag"),
    ("app.peak", "Peak", "Csúcs"),
    ("app.limit_line", "Catalog limit", "Katalógus limit"),
    ("app.customers", "Customers", "Ügyfelek"),
    ("app.issues", "Common issues", "Gyakori hibák"),
    ("app.not_found", "No such app has reported.", "Ilyen alkalmazás nem jelentett."),
    ("customers.title", "Customers", "Ügyfelek"),
    ("customer.title", "Customer", "Ügyfél"),
    ("customer.apps", "App telemetry", "Alkalmazás telemetria"),
    ("customer.not_found", "No such customer has reported.", "Ilyen ügyfél nem jelentett."),
    ("state.ok", "under 70 % of the limit", "a limit 70 %-a alatt"),
    ("state.warn", "over 70 % of the limit", "a limit 70 %-a felett"),
    ("state.danger", "over 90 % of the limit", "a limit 90 %-a felett"),
    ("state.unknown", "no limit", "nincs limit"),
];

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Hu => "hu",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        match code.trim().to_ascii_lowercase().split(['-', '_']).next()? {
            "en" => Some(Lang::En),
            "hu" => Some(Lang::Hu),
            _ => None,
        }
    }

    /// The first of our languages in an `Accept-Language` value, by q-value.
    fn from_accept(value: &str) -> Option<Self> {
        let mut offered: Vec<(f32, Lang)> = value
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let lang = Lang::from_code(pieces.next()?)?;
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()))
                    .unwrap_or(1.0);
                Some((q, lang))
            })
            .collect();
        offered.sort_by(|a, b| b.0.total_cmp(&a.0));
        offered.first().map(|(_, l)| *l)
    }

    /// The language of a request (see the module docs) and whether it came from `?lang=`.
    pub fn of(parts: &Parts) -> (Self, bool) {
        let query = parts.uri.query().unwrap_or("");
        if let Some(lang) = query.split('&').find_map(|kv| kv.strip_prefix("lang=")).and_then(Lang::from_code)
        {
            return (lang, true);
        }
        let cookie = parts.headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
            c.split(';').find_map(|kv| kv.trim().strip_prefix("tailrace_lang=")).and_then(Lang::from_code)
        });
        if let Some(lang) = cookie {
            return (lang, false);
        }
        let accept =
            parts.headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).and_then(Lang::from_accept);
        (accept.unwrap_or_default(), false)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Lang::of(parts).0)
    }
}

/// The text of `key` in `lang` (`?` if the catalog lacks it, which the tests forbid).
pub fn t(lang: Lang, key: &str) -> &'static str {
    MESSAGES.iter().find(|(k, _, _)| *k == key).map_or("?", |(_, en, hu)| match lang {
        Lang::En => en,
        Lang::Hu => hu,
    })
}

/// The whole catalog of `lang` as a JSON object, safe inside a `<script>` element.
pub fn catalog_json(lang: Lang) -> String {
    let map: serde_json::Map<String, serde_json::Value> =
        MESSAGES.iter().map(|(k, _, _)| ((*k).to_owned(), serde_json::Value::from(t(lang, k)))).collect();
    serde_json::Value::Object(map).to_string().replace("</", "<\\/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(uri: &str, headers: &[(&str, &str)]) -> Lang {
        let mut req = axum::http::Request::builder().uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let (parts, ()) = req.body(()).unwrap().into_parts();
        Lang::of(&parts).0
    }

    #[test]
    fn the_language_comes_from_the_switch_then_the_cookie_then_accept_language() {
        assert_eq!(lang("/apps", &[]), Lang::En);
        assert_eq!(lang("/apps", &[("accept-language", "hu-HU,hu;q=0.9,en;q=0.8")]), Lang::Hu);
        assert_eq!(lang("/apps", &[("accept-language", "de, en;q=0.5, hu;q=0.7")]), Lang::Hu);
        assert_eq!(lang("/apps", &[("accept-language", "fr")]), Lang::En);
        assert_eq!(
            lang("/apps", &[("cookie", "a=b; tailrace_lang=hu"), ("accept-language", "en")]),
            Lang::Hu
        );
        assert_eq!(lang("/apps?lang=en", &[("cookie", "tailrace_lang=hu")]), Lang::En);
    }

    #[test]
    fn every_message_has_both_languages_and_keys_are_unique() {
        let mut keys = std::collections::HashSet::new();
        for (k, en, hu) in MESSAGES {
            assert!(keys.insert(k), "{k} twice");
            assert!(!en.is_empty() && !hu.is_empty(), "{k}");
        }
        assert_eq!(t(Lang::Hu, "apps.title"), "Alkalmazások");
        for path in super::super::NAV {
            assert_ne!(t(Lang::Hu, &format!("nav.{path}")), "?", "{path} has no label");
        }
        assert!(!catalog_json(Lang::En).contains("</"));
    }

    #[test]
    fn every_key_the_pages_and_scripts_ask_for_is_in_the_catalog() {
        let pages = [("fleet.rs", include_str!("fleet.rs")), ("mod.rs", include_str!("mod.rs"))];
        for (name, content) in pages {
            for call in content.split("t(lang, \"").skip(1) {
                let key = &call[..call.find('"').unwrap()];
                assert_ne!(t(Lang::Hu, key), "?", "{name} asks for {key}");
            }
        }
        for (name, _, content) in super::super::assets::ASSETS {
            for call in content.split("msg(\"").skip(1) {
                let key = &call[..call.find('"').unwrap()];
                assert_ne!(t(Lang::Hu, key), "?", "{name} asks for {key}");
            }
        }
        for state in ["ok", "warn", "danger", "unknown"] {
            assert_ne!(t(Lang::Hu, &format!("state.{state}")), "?");
        }
        for accuracy in ["green", "yellow", "red", "unknown"] {
            assert_ne!(t(Lang::Hu, &format!("accuracy.{accuracy}")), "?");
        }
    }
}
