//! The bound on open connections, and who gives way when it is reached.
//!
//! A connection is *waiting* until its request has arrived whole (headers and
//! body), then *answering*. When every slot is taken, a new connection takes
//! the slot of the oldest waiting one, which is closed: clients that open
//! connections and send nothing (or send slowly) can neither hold the endpoint
//! nor make it keep more than the bound of buffers, while a client that sends
//! its request at once is served. Only when every connection is answering is a
//! new one refused. hyper's header read timeout closes idle ones in any case.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// The open connections of one endpoint.
#[derive(Debug)]
pub(crate) struct Connections {
    max: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    /// Oldest first.
    slots: Vec<Slot>,
}

#[derive(Debug)]
struct Slot {
    id: u64,
    answering: Arc<AtomicBool>,
    close: Option<oneshot::Sender<()>>,
}

/// A connection's slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Admitted {
    id: u64,
    connections: Arc<Connections>,
    /// Set once the request has arrived: the connection is no longer evicted.
    pub answering: Arc<AtomicBool>,
    /// Fires when a newer connection took this one's slot.
    pub evicted: oneshot::Receiver<()>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connections.lock().slots.retain(|s| s.id != self.id);
    }
}

impl Connections {
    /// At most `max` connections at once.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Connections { max, open: Mutex::new(Open::default()) })
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // The list stays consistent whatever panicked while holding it.
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for a new connection, closing the oldest waiting one if all are
    /// taken; `None` when every connection is answering a request.
    pub fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut open = self.lock();
        if open.slots.len() >= self.max {
            let oldest_waiting = open.slots.iter().position(|s| !s.answering.load(Ordering::Acquire))?;
            let mut evicted = open.slots.remove(oldest_waiting);
            if let Some(close) = evicted.close.take() {
                let _ = close.send(());
            }
        }
        let id = open.next_id;
        open.next_id += 1;
        let (close, evicted) = oneshot::channel();
        let answering = Arc::new(AtomicBool::new(false));
        open.slots.push(Slot { id, answering: answering.clone(), close: Some(close) });
        Some(Admitted { id, connections: self.clone(), answering, evicted })
    }

    /// Connections open now.
    pub fn count(&self) -> usize {
        self.lock().slots.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_oldest_waiting_connection_gives_way() {
        let c = Connections::new(3);
        let mut a = c.admit().unwrap();
        let mut b = c.admit().unwrap();
        let mut d = c.admit().unwrap();
        assert_eq!(c.count(), 3);
        a.answering.store(true, Ordering::Release);
        let e = c.admit().unwrap();
        assert_eq!(c.count(), 3);
        assert!(a.evicted.try_recv().is_err(), "answering: kept");
        assert!(b.evicted.try_recv().is_ok(), "oldest waiting: closed");
        assert!(d.evicted.try_recv().is_err());
        drop(b);
        assert_eq!(c.count(), 3, "an evicted connection's slot is already free");
        d.answering.store(true, Ordering::Release);
        e.answering.store(true, Ordering::Release);
        assert!(c.admit().is_none(), "all answering: refused");
        drop(e);
        assert_eq!(c.count(), 2);
        let _f = c.admit().unwrap();
        assert_eq!(c.count(), 3);
    }
}
