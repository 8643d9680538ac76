//! Memory sizes as catalogs write them (`512M`, `1G`, `256Mi`, `1.5g`, `536870912`), in MB.
//!
//! The seed stores `catalog_limit` as text; comparisons (estimate accuracy, advice) need a
//! number. Units are binary like Docker's and compose's (`m` = MiB), so `512M` is 512 MB here
//! as in the seed's `mem_limit`.

/// The size in MB (MiB), or `None` for text that is not a size (empty, `unlimited`).
pub fn parse_mb(text: &str) -> Option<f64> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number.parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.strip_suffix("ib").or_else(|| unit.strip_suffix('b')).unwrap_or(&unit);
    let factor = match unit.strip_suffix('i').unwrap_or(unit) {
        "" => 1.0 / (1024.0 * 1024.0),
        "k" => 1.0 / 1024.0,
        "m" => 1.0,
        "g" => 1024.0,
        "t" => 1024.0 * 1024.0,
        _ => return None,
    };
    (n.is_finite() && n >= 0.0).then_some(n * factor)
}

#[cfg(test)]
mod tests {
    use super::parse_mb;

    #[test]
    fn catalog_sizes_read_as_mb() {
        assert_eq!(parse_mb("512M"), Some(512.0));
        assert_eq!(parse_mb("512m"), Some(512.0));
        assert_eq!(parse_mb("256Mi"), Some(256.0));
        assert_eq!(parse_mb("1G"), Some(1024.0));
        assert_eq!(parse_mb("1.5g"), Some(1536.0));
        assert_eq!(parse_mb("2GB"), Some(2048.0));
        assert_eq!(parse_mb("536870912"), Some(512.0));
        assert_eq!(parse_mb("1024k"), Some(1.0));
        assert_eq!(parse_mb(""), None);
        assert_eq!(parse_mb("unlimited"), None);
        assert_eq!(parse_mb("12X"), None);
    }
}
