//! Random strings: names, descriptions, urls and the `extra` padding
//! (the reference's `StringsGenerator`).

use std::sync::OnceLock;

use crate::rng::Rng;

/// The shortest random string [`next_string`] draws (before trimming).
const MIN_STRING_LENGTH: u64 = 3;

/// Size of the shared buffer of random letters that exact strings are cut from.
const REUSABLE_LEN: usize = 1 << 20;

/// A random string of `MIN_STRING_LENGTH ..= max_len - 1` characters, each a
/// lowercase letter or (with probability 1/13) a space, trimmed.
pub(crate) fn next_string(rng: &mut Rng, max_len: u64) -> String {
    next_string_with(rng, max_len, ' ')
}

/// As [`next_string`] with `special` in place of the space (only spaces are
/// trimmed).
pub(crate) fn next_string_with(rng: &mut Rng, max_len: u64, special: char) -> String {
    let len = MIN_STRING_LENGTH + rng.below(max_len.saturating_sub(MIN_STRING_LENGTH));
    let s: String = (0..len).map(|_| if rng.below(13) == 0 { special } else { letter(rng) }).collect();
    let trimmed = s.trim_matches(' ');
    if trimmed.len() == s.len() {
        s
    } else {
        trimmed.to_owned()
    }
}

/// A random lowercase letter.
fn letter(rng: &mut Rng) -> char {
    char::from(b'a' + rng.below(26) as u8)
}

/// One megabyte of random letters, made once from a fixed seed.
fn reusable() -> &'static str {
    static BUFFER: OnceLock<String> = OnceLock::new();
    BUFFER.get_or_init(|| {
        let mut rng = Rng::from_state(0x5EED_0FE1_7A00);
        (0..REUSABLE_LEN).map(|_| letter(&mut rng)).collect()
    })
}

/// A random string of exactly `len` lowercase letters. As in the reference,
/// strings shorter than half a megabyte are cut at a random offset from one
/// shared megabyte of random letters (cheap); longer ones are drawn letter by
/// letter.
pub(crate) fn next_exact_string(rng: &mut Rng, len: usize) -> String {
    if len < REUSABLE_LEN / 2 {
        let offset = rng.below((REUSABLE_LEN - len) as u64) as usize;
        if let Some(s) = reusable().get(offset..offset + len) {
            return s.to_owned();
        }
    }
    (0..len).map(|_| letter(rng)).collect()
}

/// The `extra` padding of an event whose other fields take `current_size`
/// bytes, so that events average `desired_average_size` bytes: empty if the
/// event is already larger, else `d ± 20 %` letters (uniform in
/// `d - r .. d + r` with `d = desired_average_size - current_size` and
/// `r = round(d / 5)`).
pub(crate) fn next_extra(rng: &mut Rng, current_size: u64, desired_average_size: u64) -> String {
    if current_size > desired_average_size {
        return String::new();
    }
    let desired = desired_average_size - current_size;
    let delta = (desired + 2) / 5;
    let size = desired - delta + if delta == 0 { 0 } else { rng.below(2 * delta) };
    next_exact_string(rng, usize::try_from(size).unwrap_or(usize::MAX))
}

/// A url `https://www.nexmark.com/<a>/<b>/<c>/item.htm?query=1` with three
/// random 3..4-character path segments of letters and `_`.
pub(crate) fn base_url(rng: &mut Rng) -> String {
    let a = next_string_with(rng, 5, '_');
    let b = next_string_with(rng, 5, '_');
    let c = next_string_with(rng, 5, '_');
    format!("https://www.nexmark.com/{a}/{b}/{c}/item.htm?query=1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_have_the_reference_lengths() {
        let mut rng = Rng::for_event(0, 1);
        for _ in 0..1000 {
            let s = next_string(&mut rng, 20);
            assert!(s.len() <= 19 && !s.starts_with(' ') && !s.ends_with(' '), "{s:?}");
            assert!(s.chars().all(|c| c == ' ' || c.is_ascii_lowercase()));
            assert_eq!(next_exact_string(&mut rng, 37).len(), 37);
        }
        assert_eq!(next_exact_string(&mut rng, REUSABLE_LEN).len(), REUSABLE_LEN);
    }

    #[test]
    fn extra_pads_toward_the_average() {
        let mut rng = Rng::for_event(0, 2);
        assert_eq!(next_extra(&mut rng, 101, 100), "");
        assert_eq!(next_extra(&mut rng, 100, 100), "");
        let n = 20_000;
        let total: usize = (0..n).map(|_| next_extra(&mut rng, 32, 100).len()).sum();
        // d = 68, r = 14: uniform in 54 ..= 81, mean 67.5.
        let mean = total as f64 / n as f64;
        assert!((67.0..68.0).contains(&mean), "{mean}");
    }

    #[test]
    fn urls_have_three_segments() {
        let mut rng = Rng::for_event(0, 3);
        let url = base_url(&mut rng);
        let path = url.strip_prefix("https://www.nexmark.com/").unwrap_or_default();
        let segments: Vec<&str> = path.split('/').collect();
        assert_eq!(segments.len(), 4, "{url}");
        assert!(segments[..3].iter().all(|s| (3..=4).contains(&s.len())), "{url}");
        assert_eq!(segments[3], "item.htm?query=1");
    }
}
