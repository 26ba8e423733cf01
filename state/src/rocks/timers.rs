//! Firing timers: those in RocksDB are read in order and removed with one
//! range deletion per key group; those registered since the write cache was
//! last written come out of the cache and never reach RocksDB.

use crate::codec::{self, ValueFormat};
use rocksdb::{Direction, IteratorMode, WriteBatch};

use super::cache::TimerTail;
use super::keys::{ordered_ts, timer_key_from_tail, timer_ts, KG_BYTES};
use super::{cf_of, db_err, RocksDbBackend, TIMERS_CF};
use crate::{Key, StateError, Timer};

impl<K: Key> RocksDbBackend<K> {
    /// Removes every timer due at `watermark` and appends them to `out`, ordered by time.
    pub(super) fn pop_due_timers(&mut self, watermark: i64, out: &mut Vec<Timer<K>>) -> Result<(), StateError> {
        let start = out.len();
        if self.in_flight.is_some() && self.db_timer_min.iter().any(|m| m.is_some_and(|m| m <= watermark)) {
            // Timers a snapshot's thread is writing are in none of the places read below.
            self.settle()?;
        }
        let mut batch = WriteBatch::default();
        let mut due: Vec<(i64, TimerTail)> = Vec::new();
        for (i, kg) in self.range.iter().enumerate() {
            if self.timer_min[i].is_none_or(|m| m > watermark) {
                continue;
            }
            let prefix = (kg as u16).to_be_bytes();
            due.clear();
            // Timers in RocksDB: read in order, then removed with one range deletion.
            let mut next_db = self.db_timer_min[i];
            if next_db.is_some_and(|m| m <= watermark) {
                next_db = None;
                let cf = cf_of(&self.db, TIMERS_CF)?;
                for item in self.db.iterator_cf(cf, IteratorMode::From(&prefix, Direction::Forward)) {
                    let (k, _) = item.map_err(|e| db_err("reading timers", e))?;
                    let Some(ts) = timer_ts(&k).filter(|_| k.starts_with(&prefix)) else { break };
                    if ts > watermark {
                        next_db = Some(ts);
                        break;
                    }
                    due.push((ts, TimerTail::from_slice(&k[KG_BYTES + 8..])));
                }
                match watermark.checked_add(1) {
                    Some(after) if !due.is_empty() => {
                        let mut end = prefix.to_vec();
                        end.extend_from_slice(&ordered_ts(after));
                        batch.delete_range_cf(cf, &prefix[..], &end[..]);
                    }
                    _ => {
                        for (ts, tail) in &due {
                            timer_key_from_tail(&mut self.key_buf, kg, *ts, tail);
                            batch.delete_cf(cf, &self.key_buf);
                        }
                    }
                }
            }
            self.db_timer_min[i] = next_db;
            // Timers registered since the cache was last written.
            self.cache.take_due(kg as u16, watermark, &mut due);
            let next_cached = self.cache.next_timer(kg as u16);
            self.timer_min[i] = match (next_db, next_cached) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // A timer can be both in RocksDB and cached (registered again): it fires once.
            due.sort_unstable();
            due.dedup();
            for (timestamp, tail) in due.drain(..) {
                let (key, namespace): (K, i64) = codec::decode(ValueFormat::CURRENT, &tail)?;
                out.push(Timer { timestamp, key, namespace, key_group: kg });
            }
        }
        if !batch.is_empty() {
            self.db.write_opt(batch, &self.write).map_err(|e| db_err("removing fired timers", e))?;
        }
        out[start..].sort_by_key(|t| t.timestamp);
        Ok(())
    }
}
