//! Parsing of durations (`500ms`, `10s`) and sizes (`512MB`, `1GiB`) in flags.

use std::time::Duration;

/// Parses `<number><unit>` with unit `ms`, `s`, `m` or `h`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(weir::parse_duration("500ms").unwrap(), Duration::from_millis(500));
/// assert_eq!(weir::parse_duration("10s").unwrap(), Duration::from_secs(10));
/// assert!(weir::parse_duration("10").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("'{s}' has no unit: write a duration like 500ms, 10s, 5m or 1h"))?;
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("'{s}' is not a duration: write e.g. 500ms, 10s, 5m or 1h"))?;
    let ms = match unit {
        "ms" => value,
        "s" => value * 1e3,
        "m" | "min" => value * 60e3,
        "h" => value * 3600e3,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (use ms, s, m or h)")),
    };
    Ok(Duration::from_micros((ms * 1e3).round() as u64))
}

/// Parses a size in bytes: a number with an optional unit `B`, `KB`, `MB`,
/// `GB` (powers of 1000), `KiB`, `MiB`, `GiB` (powers of 1024), case-insensitive.
///
/// ```
/// assert_eq!(weir::parse_size("512MB").unwrap(), 512_000_000);
/// assert_eq!(weir::parse_size("1GiB").unwrap(), 1 << 30);
/// assert!(weir::parse_size("lots").is_err());
/// ```
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("'{s}' is not a size: write e.g. 512MB or 1GiB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("'{s}': unknown size unit '{other}' (use B, KB, MB, GB, KiB, MiB or GiB)")),
    };
    Ok((value * mult).round() as u64)
}

/// Parses a count with an optional `k`, `M` or `G` suffix (powers of 1000).
///
/// ```
/// assert_eq!(weir::parse_count("15M").unwrap(), 15_000_000);
/// assert_eq!(weir::parse_count("200").unwrap(), 200);
/// ```
pub fn parse_count(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('M') => (&t[..t.len() - 1], 1e6),
        Some('G') => (&t[..t.len() - 1], 1e9),
        _ => (t.as_str(), 1.0),
    };
    let value: f64 = num.parse().map_err(|_| format!("'{s}' is not a number (suffixes k, M, G allowed)"))?;
    if value < 0.0 {
        return Err(format!("'{s}' is negative"));
    }
    Ok((value * mult).round() as u64)
}
