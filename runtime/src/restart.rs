//! Restart strategies: whether, and after how long, a job whose task failed
//! restores from its newest complete checkpoint and goes on. The decision
//! is pure; the executor sleeps and restarts.

use std::time::Duration;

/// What a job does when a task fails (a user function returns an error or
/// panics, a sink or the state backend fails), like Flink's restart
/// strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartStrategy {
    /// Fail the job at once.
    None,
    /// Restart up to `attempts` times, `delay` after each failure.
    FixedDelay {
        /// Restarts before the job fails.
        attempts: u32,
        /// Wait before each restart.
        delay: Duration,
    },
    /// Restart up to `attempts` times, waiting `initial` before the first
    /// and twice as long before each next, up to `max`.
    ExponentialDelay {
        /// Restarts before the job fails.
        attempts: u32,
        /// Wait before the first restart.
        initial: Duration,
        /// The longest wait.
        max: Duration,
    },
}

impl RestartStrategy {
    /// The default: with checkpoints, 5 restarts waiting 1 s, 2 s, 4 s, ...
    /// up to 1 min (Flink's default is also exponential); without, none
    /// (restarting from the start would repeat committed output).
    pub fn default_for(checkpointing: bool) -> Self {
        if checkpointing {
            RestartStrategy::ExponentialDelay { attempts: 5, initial: Duration::from_secs(1), max: Duration::from_secs(60) }
        } else {
            RestartStrategy::None
        }
    }

    /// The wait before restart number `restart` (1 for the first), or
    /// `None` when the strategy allows no more restarts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weir_runtime::RestartStrategy;
    /// let s = RestartStrategy::ExponentialDelay { attempts: 4, initial: Duration::from_secs(1), max: Duration::from_secs(3) };
    /// let waits: Vec<_> = (1..=5).map(|n| s.delay_before(n)).collect();
    /// let s = |n| Some(Duration::from_secs(n));
    /// assert_eq!(waits, vec![s(1), s(2), s(3), s(3), None]);
    /// ```
    pub fn delay_before(&self, restart: u32) -> Option<Duration> {
        match *self {
            RestartStrategy::None => None,
            RestartStrategy::FixedDelay { attempts, delay } => (restart >= 1 && restart <= attempts).then_some(delay),
            RestartStrategy::ExponentialDelay { attempts, initial, max } => {
                if restart == 0 || restart > attempts {
                    return None;
                }
                let factor = 1u32.checked_shl(restart - 1).unwrap_or(u32::MAX);
                Some(initial.checked_mul(factor).unwrap_or(max).min(max))
            }
        }
    }

    /// How many restarts it allows.
    pub fn attempts(&self) -> u32 {
        match *self {
            RestartStrategy::None => 0,
            RestartStrategy::FixedDelay { attempts, .. } | RestartStrategy::ExponentialDelay { attempts, .. } => attempts,
        }
    }
}

impl std::fmt::Display for RestartStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestartStrategy::None => f.write_str("none"),
            RestartStrategy::FixedDelay { attempts, delay } => write!(f, "fixed-delay ({attempts} attempts, {delay:?} apart)"),
            RestartStrategy::ExponentialDelay { attempts, initial, max } => {
                write!(f, "exponential-delay ({attempts} attempts, {initial:?} doubling up to {max:?})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_delay_allows_its_attempts_and_no_more() {
        let s = RestartStrategy::FixedDelay { attempts: 2, delay: Duration::from_millis(10) };
        assert_eq!(s.delay_before(1), Some(Duration::from_millis(10)));
        assert_eq!(s.delay_before(2), Some(Duration::from_millis(10)));
        assert_eq!(s.delay_before(3), None);
        assert_eq!(RestartStrategy::None.delay_before(1), None);
    }

    #[test]
    fn the_default_restarts_only_with_checkpoints() {
        assert_eq!(RestartStrategy::default_for(false), RestartStrategy::None);
        assert_eq!(RestartStrategy::default_for(true).attempts(), 5);
        let far = RestartStrategy::default_for(true);
        assert_eq!(far.delay_before(5), Some(Duration::from_secs(16)));
        let long = RestartStrategy::ExponentialDelay { attempts: 40, initial: Duration::from_secs(1), max: Duration::from_secs(60) };
        assert_eq!(long.delay_before(40), Some(Duration::from_secs(60)), "no overflow");
    }
}
