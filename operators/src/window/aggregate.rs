//! How a window folds its records: the [`Aggregate`] the window operators
//! call, and the user-facing forms of it (count, reduce, Flink's
//! `AggregateFunction`, all the elements).

use weir_state::StateValue;

/// How a window folds its records into an accumulator kept in state.
///
/// `merge` combines two accumulators: sliding windows keep one accumulator
/// per pane (a slice of `gcd(size, slide)`) and merge the panes of a window
/// when it fires, and session windows merge the accumulators of sessions
/// that a record joins.
pub trait Aggregate<T>: Send + 'static {
    /// The accumulator kept in state.
    type Acc: StateValue;
    /// What the window emits.
    type Out: Send + 'static;
    /// A new accumulator holding the first record.
    fn first(&self, value: T) -> Self::Acc;
    /// Folds a record in.
    fn add(&self, acc: &mut Self::Acc, value: T);
    /// Folds `other` (of later or overlapping records) into `acc`.
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc);
    /// The window's result.
    fn result(&self, acc: Self::Acc) -> Self::Out;
}

/// Counts records.
///
/// ```
/// use weir_operators::{Aggregate, Count};
/// let mut acc = Aggregate::<&str>::first(&Count, "a");
/// Aggregate::<&str>::add(&Count, &mut acc, "b");
/// Aggregate::<&str>::merge(&Count, &mut acc, 3);
/// assert_eq!(Aggregate::<&str>::result(&Count, acc), 5);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Count;

impl<T> Aggregate<T> for Count {
    type Acc = u64;
    type Out = u64;
    #[inline]
    fn first(&self, _value: T) -> u64 {
        1
    }
    #[inline]
    fn add(&self, acc: &mut u64, _value: T) {
        *acc += 1;
    }
    #[inline]
    fn merge(&self, acc: &mut u64, other: u64) {
        *acc += other;
    }
    fn result(&self, acc: u64) -> u64 {
        acc
    }
}

/// Folds records with a function of two records (which must be
/// associative, as panes and sessions are folded in pieces).
#[derive(Clone)]
pub struct Reduce<F>(pub F);

impl<T: StateValue, F: Fn(T, T) -> T + Send + 'static> Aggregate<T> for Reduce<F> {
    type Acc = T;
    type Out = T;
    fn first(&self, value: T) -> T {
        value
    }
    fn add(&self, acc: &mut T, value: T) {
        let cur = acc.clone();
        *acc = (self.0)(cur, value);
    }
    fn merge(&self, acc: &mut T, other: T) {
        self.add(acc, other)
    }
    fn result(&self, acc: T) -> T {
        acc
    }
}

/// A user-defined aggregation, like Flink's `AggregateFunction`.
///
/// ```
/// use weir_operators::AggregateFunction;
/// #[derive(Clone)]
/// struct Average;
/// impl AggregateFunction<f64> for Average {
///     type Acc = (f64, u64);
///     type Out = f64;
///     fn create(&self) -> (f64, u64) { (0.0, 0) }
///     fn add(&self, acc: &mut (f64, u64), v: f64) { acc.0 += v; acc.1 += 1; }
///     fn merge(&self, acc: &mut (f64, u64), other: (f64, u64)) { acc.0 += other.0; acc.1 += other.1; }
///     fn result(&self, acc: (f64, u64)) -> f64 { acc.0 / acc.1 as f64 }
/// }
/// ```
pub trait AggregateFunction<T>: Send + 'static {
    /// The accumulator kept in state.
    type Acc: StateValue;
    /// What the window emits.
    type Out: Send + 'static;
    /// An empty accumulator.
    fn create(&self) -> Self::Acc;
    /// Folds a record in.
    fn add(&self, acc: &mut Self::Acc, value: T);
    /// Folds `other` into `acc` (sliding windows merge their panes, session
    /// windows the sessions a record joins).
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc);
    /// The window's result.
    fn result(&self, acc: Self::Acc) -> Self::Out;
}

/// Adapts an [`AggregateFunction`] to [`Aggregate`].
#[derive(Clone)]
pub struct Aggregating<F>(pub F);

impl<T, F: AggregateFunction<T>> Aggregate<T> for Aggregating<F> {
    type Acc = F::Acc;
    type Out = F::Out;
    fn first(&self, value: T) -> Self::Acc {
        let mut acc = self.0.create();
        self.0.add(&mut acc, value);
        acc
    }
    fn add(&self, acc: &mut Self::Acc, value: T) {
        self.0.add(acc, value)
    }
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc) {
        self.0.merge(acc, other)
    }
    fn result(&self, acc: Self::Acc) -> Self::Out {
        self.0.result(acc)
    }
}

/// Keeps every record of the window (pane by pane, or session by session,
/// each in arrival order) for a
/// [`ProcessWindowFunction`](crate::ProcessWindowFunction) that needs them all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Elements;

impl<T: StateValue> Aggregate<T> for Elements {
    type Acc = Vec<T>;
    type Out = Vec<T>;
    fn first(&self, value: T) -> Vec<T> {
        vec![value]
    }
    fn add(&self, acc: &mut Vec<T>, value: T) {
        acc.push(value)
    }
    fn merge(&self, acc: &mut Vec<T>, other: Vec<T>) {
        acc.extend(other)
    }
    fn result(&self, acc: Vec<T>) -> Vec<T> {
        acc
    }
}
