//! The per-event random number generator: SplitMix64 seeded from
//! `(seed, event number)`, so that every event is computed on its own.

/// The SplitMix64 increment (the golden ratio in 64-bit fixed point).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (Stafford's "mix13" finalizer): a bijection
/// of `u64` with good avalanche.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A small, fast, deterministic generator (SplitMix64). Not cryptographic.
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    /// A generator with the given raw state.
    pub(crate) fn from_state(state: u64) -> Rng {
        Rng { state }
    }

    /// The generator for event number `n` of the stream with seed `seed`;
    /// distinct `(seed, n)` pairs give unrelated sequences.
    pub(crate) fn for_event(seed: u64, n: u64) -> Rng {
        Rng::from_state(mix(seed ^ 0x6A09_E667_F3BC_C908).wrapping_add(mix(n.wrapping_add(GAMMA))))
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// A uniform integer in `0 .. bound` (Lemire's multiply-and-reject, so
    /// unbiased); 0 if `bound` is 0.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(bound);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// A uniform index into a slice of length `len`.
    pub(crate) fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// A uniform `f64` in `[0, 1)`.
    pub(crate) fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut rng = Rng::for_event(1, 2);
        let mut counts = [0u32; 7];
        for _ in 0..70_000 {
            counts[rng.below(7) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (9_000..11_000).contains(&c)), "{counts:?}");
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.below(1), 0);
    }

    #[test]
    fn streams_differ_by_seed_and_event() {
        let a = Rng::for_event(0, 0).next_u64();
        assert_ne!(a, Rng::for_event(0, 1).next_u64());
        assert_ne!(a, Rng::for_event(1, 0).next_u64());
        assert_eq!(a, Rng::for_event(0, 0).next_u64());
        let x = Rng::for_event(3, 4).unit_f64();
        assert!((0.0..1.0).contains(&x));
    }
}
