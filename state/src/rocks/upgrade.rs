//! What the RocksDB backend records about its states in its metadata column
//! family, and the conversions a restore makes when a state was written in
//! an older value format or layout, or with a value type that a declared
//! migration reads ([`crate::convert`] decides; this module moves the bytes).
//!
//! Metadata keys (values are UTF-8):
//!
//! | key | value |
//! |---|---|
//! | `schema:<state>` | the state's [`crate::Schema`] as JSON |
//! | `format:<state>` | the value format number of its entries |
//! | `type:<state>` | written before schemas: the Rust type name of `(namespace, value)`; value format 1 |
//! | `timers-format` | the value format of the timers' keys (absent: 1) |

use rocksdb::{ReadOptions, WriteBatch};

use super::keys::KG_BYTES;
use super::{cf_of, db_err, ingest, RocksDbBackend, META_CF, TIMERS_CF};
use crate::codec::{self, ValueFormat};
use crate::convert::{Plan, Reader};
use crate::{Key, Namespace, Schema, StateError, StateValue, UserKey};

const TIMERS_FORMAT: &str = "timers-format";

/// How a state is recorded in a database's metadata.
pub(super) struct Recorded {
    /// Its schema as JSON, or a Rust type name (written before schemas).
    pub description: String,
    /// The value format of its entries.
    pub format: ValueFormat,
}

impl<K: Key> RocksDbBackend<K> {
    fn meta_get(&self, key: &str) -> Result<Option<String>, StateError> {
        let value = self.db.get_cf(cf_of(&self.db, META_CF)?, key.as_bytes()).map_err(|e| db_err("reading the state metadata", e))?;
        Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// How state `name` is recorded, if the database holds it.
    pub(super) fn recorded(&self, name: &str) -> Result<Option<Recorded>, StateError> {
        if let Some(description) = self.meta_get(&format!("schema:{name}"))? {
            let format = match self.meta_get(&format!("format:{name}"))? {
                Some(n) => {
                    let n: u32 =
                        n.parse().map_err(|_| StateError::Corrupt(format!("state '{name}': value format '{n}' is not a number")))?;
                    ValueFormat::from_number(n)?
                }
                None => ValueFormat::CURRENT,
            };
            return Ok(Some(Recorded { description, format }));
        }
        Ok(self.meta_get(&format!("type:{name}"))?.map(|description| Recorded { description, format: ValueFormat::LEGACY }))
    }

    /// Records state `name` as holding `schema` in the current format.
    pub(super) fn record(&self, name: &str, schema: &Schema) -> Result<(), StateError> {
        let meta = cf_of(&self.db, META_CF)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(meta, format!("schema:{name}"), schema.to_json());
        batch.put_cf(meta, format!("format:{name}"), ValueFormat::CURRENT.number().to_string());
        batch.delete_cf(meta, format!("type:{name}"));
        self.db.write_opt(batch, &self.write).map_err(|e| db_err("writing the state metadata", e))
    }

    /// Rewrites every entry of state `name` with `plan` (a restore's
    /// migration or format upgrade): the column family is read whole,
    /// converted in memory, emptied and written again.
    pub(super) fn convert_state<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        name: &str,
        reader: &Reader<'_, K, N, UK, V>,
        plan: &Plan<V>,
    ) -> Result<(), StateError> {
        let started = std::time::Instant::now();
        let mut rows: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        {
            let mut read = ReadOptions::default();
            read.fill_cache(false);
            let mut it = self.db.raw_iterator_cf_opt(cf_of(&self.db, name)?, read);
            it.seek_to_first();
            while let Some((k, v)) = it.item() {
                let Some((kg, key)) = k.split_first_chunk::<KG_BYTES>() else {
                    return Err(StateError::Corrupt(format!("state '{name}': a key of {} bytes", k.len())));
                };
                reader.convert(plan, key, v, &mut |key, value| {
                    let mut stored = Vec::with_capacity(KG_BYTES + key.len());
                    stored.extend_from_slice(kg);
                    stored.extend_from_slice(key);
                    rows.push((stored, value.to_vec()));
                    Ok(())
                })?;
                it.next();
            }
            it.status().map_err(|e| db_err(&format!("reading state '{name}'"), e))?;
        }
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        rows.dedup_by(|a, b| a.0 == b.0);
        self.recreate_cf(name)?;
        let entries: Vec<(&[u8], Option<&[u8]>)> = rows.iter().map(|(k, v)| (k.as_slice(), Some(v.as_slice()))).collect();
        if !entries.is_empty() {
            self.ingested += 1;
            let sst = self.config.dir.join("ingest").join(format!("{:08}.sst", self.ingested));
            std::fs::create_dir_all(self.config.dir.join("ingest"))?;
            ingest::write_sorted(&self.db, cf_of(&self.db, name)?, &self.cf_options, &self.write, &sst, &entries)?;
        }
        tracing::info!(state = name, entries = rows.len(), ms = started.elapsed().as_millis() as u64, "restored state converted");
        Ok(())
    }

    /// Drops and creates the column family of state `name` (empty).
    fn recreate_cf(&mut self, name: &str) -> Result<(), StateError> {
        self.settle()?;
        let options = super::db_options(self.config.memory_bytes);
        let db = std::sync::Arc::get_mut(&mut self.db)
            .ok_or_else(|| StateError::Io(std::io::Error::other(format!("cannot convert state {name} while a snapshot is written"))))?;
        db.drop_cf(name).map_err(|e| db_err(&format!("dropping state {name}"), e))?;
        db.create_cf(name, &options).map_err(|e| db_err(&format!("creating state {name}"), e))
    }

    /// Rewrites the timers' keys in the current format when the database
    /// recorded none (it was written before value formats had numbers), and
    /// records the format.
    pub(super) fn upgrade_timers(&mut self) -> Result<(), StateError> {
        if self.meta_get(TIMERS_FORMAT)?.is_some() {
            return Ok(());
        }
        let cf = cf_of(&self.db, TIMERS_CF)?;
        let mut batch = WriteBatch::default();
        let mut it = self.db.raw_iterator_cf(cf);
        it.seek_to_first();
        let mut converted = 0u64;
        while let Some(k) = it.key() {
            let Some((head, tail)) = k.split_at_checked(KG_BYTES + 8) else {
                return Err(StateError::Corrupt(format!("a timer key of {} bytes", k.len())));
            };
            let key_ns: (K, i64) = codec::decode(ValueFormat::LEGACY, tail)
                .map_err(|e| StateError::Corrupt(format!("a timer written by an older weir does not decode: {e}")))?;
            let mut new_key = head.to_vec();
            codec::encode_into(&key_ns, &mut new_key)?;
            if new_key != k {
                batch.delete_cf(cf, k);
                batch.put_cf(cf, &new_key, []);
            }
            converted += 1;
            it.next();
        }
        it.status().map_err(|e| db_err("reading timers", e))?;
        drop(it);
        batch.put_cf(cf_of(&self.db, META_CF)?, TIMERS_FORMAT, ValueFormat::CURRENT.number().to_string());
        self.db.write_opt(batch, &self.write).map_err(|e| db_err("converting timers", e))?;
        if converted > 0 {
            tracing::info!(timers = converted, "timers written by an older weir converted");
        }
        Ok(())
    }
}

/// A stored timer key (`kg ++ ts ++ tail`) whose tail is in the legacy
/// format, in the current one.
pub(super) fn current_timer_key<K: Key>(legacy: &[u8]) -> Result<Vec<u8>, StateError> {
    let Some((head, tail)) = legacy.split_at_checked(KG_BYTES + 8) else {
        return Err(StateError::Corrupt(format!("a timer key of {} bytes", legacy.len())));
    };
    let key_ns: (K, i64) = codec::decode(ValueFormat::LEGACY, tail)
        .map_err(|e| StateError::Corrupt(format!("a timer written by an older weir does not decode: {e}")))?;
    let mut key = head.to_vec();
    codec::encode_into(&key_ns, &mut key)?;
    Ok(key)
}
