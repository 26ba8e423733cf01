//! Prices: log-uniformly distributed between 1 and 1 000 000 dollars.

use crate::rng::Rng;

/// A random price in cents: `round(10^(6u) * 100)` for a uniform `u` in
/// `[0, 1)`, i.e. from 100 up to 100 000 000 cents, uniform in its order of
/// magnitude (the reference's `PriceGenerator`).
pub(crate) fn next_price(rng: &mut Rng) -> u64 {
    (10f64.powf(rng.unit_f64() * 6.0) * 100.0).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_span_six_orders_of_magnitude() {
        let mut rng = Rng::for_event(9, 9);
        let prices: Vec<u64> = (0..60_000).map(|_| next_price(&mut rng)).collect();
        assert!(prices.iter().all(|p| (100..=100_000_000).contains(p)));
        // Each decade [10^k, 10^(k+1)) dollars holds about a sixth of the prices.
        for k in 0..6u32 {
            let (low, high) = (100 * 10u64.pow(k), 100 * 10u64.pow(k + 1));
            let count = prices.iter().filter(|&&p| (low..high).contains(&p)).count();
            assert!((9_000..11_000).contains(&count), "decade {k}: {count}");
        }
    }
}
