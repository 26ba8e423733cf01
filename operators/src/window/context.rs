//! What a window function sees of the window it handles: the key, the
//! window, the watermark, and keyed state per window and per key.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use weir_state::{Backend, Key, KeyedState};

use super::Window;

/// A window is stored as the namespace of per-window state as its
/// `(start, end)` through the state codec: two zigzag varints, the same
/// bytes as the tuple. Checkpoints hold it, so this must not change.
impl Serialize for Window {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.start, self.end).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (start, end) = <(i64, i64)>::deserialize(d)?;
        Ok(Window { start, end })
    }
}

// The tag checkpoints record as the namespace type of per-window state.
weir_state::state_type!(Window, "weir.Window");

/// The context of one window of one key, for a
/// [`ProcessWindowFunction`](crate::ProcessWindowFunction) when the window
/// fires or is cleared, like Flink's `ProcessWindowFunction.Context`.
///
/// State handles are registered in the function's `open`; per-window state
/// with the window as namespace (`ValueState<V, Window>`, read and written
/// through [`window_state`](Self::window_state)), state across a key's
/// windows without one (`ValueState<V>`, through
/// [`global_state`](Self::global_state)).
pub struct WindowContext<'a, K: Key> {
    backend: &'a mut Backend<K>,
    key_group: u32,
    key: &'a K,
    window: Window,
    watermark: i64,
}

impl<'a, K: Key> WindowContext<'a, K> {
    /// The context of `window` of `key` (in key group `key_group`) in
    /// `backend`, at `watermark`. The window operators create it.
    pub fn new(backend: &'a mut Backend<K>, key_group: u32, key: &'a K, window: Window, watermark: i64) -> Self {
        WindowContext { backend, key_group, key, window, watermark }
    }
    /// The key.
    pub fn key(&self) -> &K {
        self.key
    }
    /// The window.
    pub fn window(&self) -> Window {
        self.window
    }
    /// The operator's current event-time watermark (`i64::MIN` before the first).
    pub fn current_watermark(&self) -> i64 {
        self.watermark
    }
    /// The wall clock (ms since the Unix epoch): processing time.
    pub fn current_processing_time(&self) -> i64 {
        weir_runtime::processing_time_now()
    }
    /// State of this key and this window, for handles of namespace
    /// [`Window`]. The function must remove it in its `clear`, which the
    /// operator calls when the window is purged: nothing else does.
    pub fn window_state(&mut self) -> KeyedState<'_, K, Window> {
        KeyedState::with_namespace(self.backend, self.key_group, self.key, &self.window)
    }
    /// State of this key across all its windows, for handles without a
    /// namespace (as a keyed process function's `ctx.state()`).
    pub fn global_state(&mut self) -> KeyedState<'_, K> {
        KeyedState::new(self.backend, self.key_group, self.key)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use weir_state::codec::{self, ValueFormat};
    use weir_state::StateType;

    use super::Window;

    /// The namespace bytes of per-window state, written out by hand: if
    /// this fails, checkpoints with per-window state no longer read.
    #[test]
    fn a_window_is_encoded_as_its_start_and_end() {
        let w = Window { start: -1000, end: 5000 };
        let bytes = codec::encode(&w).unwrap();
        assert_eq!(bytes, vec![0xcf, 0x0f, 0x90, 0x4e], "zigzag varints of -1000 and 5000");
        assert_eq!(bytes, codec::encode(&(-1000i64, 5000i64)).unwrap());
        assert_eq!(codec::decode::<Window>(ValueFormat::CURRENT, &bytes).unwrap(), w);
        assert_eq!(Window::description(), "weir.Window");
    }
}
