//! map, filter and flat_map: per-record functions applied a batch at a time.

use weir_runtime::{BatchFn, Event, JobError};

/// Applies `f` to every record; the event time stays.
///
/// ```
/// use weir_operators::MapFn;
/// use weir_runtime::{BatchFn, Event};
/// let mut m = MapFn(|x: i32| x * 2);
/// let (mut input, mut out) = (vec![Event::new(1, 3)], Vec::new());
/// m.apply(&mut input, &mut out).unwrap();
/// assert_eq!(out, vec![Event::new(1, 6)]);
/// ```
#[derive(Clone)]
pub struct MapFn<F>(pub F);

impl<I, O, F: FnMut(I) -> O + Send> BatchFn<Event<I>, Event<O>> for MapFn<F> {
    #[inline]
    fn apply(&mut self, input: &mut Vec<Event<I>>, output: &mut Vec<Event<O>>) -> Result<(), JobError> {
        output.extend(input.drain(..).map(|e| Event { ts: e.ts, value: (self.0)(e.value) }));
        Ok(())
    }
}

/// Keeps the records for which `f` is true.
///
/// ```
/// use weir_operators::FilterFn;
/// use weir_runtime::{BatchFn, Event};
/// let mut f = FilterFn(|x: &i32| *x > 1);
/// let (mut input, mut out) = (vec![Event::new(0, 1), Event::new(0, 2)], Vec::new());
/// f.apply(&mut input, &mut out).unwrap();
/// assert_eq!(out, vec![Event::new(0, 2)]);
/// ```
#[derive(Clone)]
pub struct FilterFn<F>(pub F);

impl<T, F: FnMut(&T) -> bool + Send> BatchFn<Event<T>, Event<T>> for FilterFn<F> {
    #[inline]
    fn apply(&mut self, input: &mut Vec<Event<T>>, output: &mut Vec<Event<T>>) -> Result<(), JobError> {
        output.extend(input.drain(..).filter(|e| (self.0)(&e.value)));
        Ok(())
    }
}

/// Replaces every record by the records `f` returns, at the same event time.
///
/// ```
/// use weir_operators::FlatMapFn;
/// use weir_runtime::{BatchFn, Event};
/// let mut f = FlatMapFn(|s: &'static str| s.split(' ').map(str::to_string).collect::<Vec<_>>());
/// let (mut input, mut out) = (vec![Event::new(5, "a b")], Vec::new());
/// f.apply(&mut input, &mut out).unwrap();
/// assert_eq!(out, vec![Event::new(5, "a".to_string()), Event::new(5, "b".to_string())]);
/// ```
#[derive(Clone)]
pub struct FlatMapFn<F>(pub F);

impl<I, O, It: IntoIterator<Item = O>, F: FnMut(I) -> It + Send> BatchFn<Event<I>, Event<O>> for FlatMapFn<F> {
    #[inline]
    fn apply(&mut self, input: &mut Vec<Event<I>>, output: &mut Vec<Event<O>>) -> Result<(), JobError> {
        for e in input.drain(..) {
            let ts = e.ts;
            output.extend((self.0)(e.value).into_iter().map(|v| Event { ts, value: v }));
        }
        Ok(())
    }
}
