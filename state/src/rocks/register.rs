//! Registering a state: a column family of its own per state, checked
//! against the schema the database records for the name, and what a restore
//! left under the name read as [`crate::convert`] decides ([`super::upgrade`]
//! and [`super::canonical`] move the bytes).

use std::sync::Arc;

use super::{db_err, db_options, RocksDbBackend};
use crate::convert::Reader;
use crate::{Key, Namespace, StateDescriptor, StateError, StateKind, StateValue, UserKey};

impl<K: Key> RocksDbBackend<K> {
    /// Registers state `state` of `kind` in a column family of its own: the
    /// existing registration of the same name and schema, or a new one,
    /// reading what a restore left under the name as [`crate::convert`] decides.
    pub(super) fn register_cf<N: Namespace, UK: UserKey, V: StateValue>(
        &mut self,
        state: &StateDescriptor<V>,
        kind: StateKind,
    ) -> Result<usize, StateError> {
        let reader = Reader::<K, N, UK, V>::new(kind, state);
        let schema = reader.schema();
        let name = state.name();
        if let Some(i) = schema.find_registered(name, self.states.iter().map(|(n, s)| (n.as_str(), s)))? {
            return Ok(i);
        }
        // Decide before changing anything: a refused state stays as it was.
        let pending_plan = match self.pending.get(name) {
            Some(p) => Some(reader.plan(&p.type_name, p.format)?),
            None => None,
        };
        self.settle()?;
        let recorded_plan = match self.recorded(name)? {
            Some(r) => Some(reader.plan(&r.description, r.format)?),
            None => None,
        };
        if self.db.cf_handle(name).is_none() {
            let options = db_options(self.config.memory_bytes);
            // Settled above: no snapshot thread holds the database.
            let db = Arc::get_mut(&mut self.db)
                .ok_or_else(|| StateError::Io(std::io::Error::other(format!("cannot create state {name} while a snapshot is written"))))?;
            db.create_cf(name, &options).map_err(|e| db_err(&format!("creating state {name}"), e))?;
        }
        if let Some(p) = self.pending.remove(name) {
            self.load_canonical(name, &reader, pending_plan, p)?;
        } else if let Some(plan) = recorded_plan.filter(|p| p.converts()) {
            self.convert_state(name, &reader, &plan)?;
        }
        self.record(name, &schema)?;
        self.states.push((name.to_string(), schema));
        Ok(self.states.len() - 1)
    }
}
