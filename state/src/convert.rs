//! Reading a restored state that was written with an older value format,
//! an older layout or another value type: deciding whether it may be read
//! ([`Reader::plan`]) and turning its entries into entries of the current
//! format and layout ([`Reader::convert`]). Both backends ask this module;
//! neither decides on its own.
//!
//! An entry is `(key bytes, value bytes)` as the canonical format and the
//! RocksDB backend store it (without the key group):
//!
//! | kind | key bytes | value bytes |
//! |---|---|---|
//! | value, reducing | `codec((key, namespace))` | `codec(value)` |
//! | list | `codec((key, namespace))` | `codec(element)*`, oldest first |
//! | map | `codec((key, namespace)) codec(user key)` | `codec(value)` |
//!
//! Before schemas were recorded (value format 1), lists were stored as one
//! `codec(Vec<element>)` and maps as one `codec(HashMap<user key, value>)`
//! per key and namespace; [`Reader::convert`] splits them into the layout above.

use std::marker::PhantomData;

use rustc_hash::FxHashMap;

use crate::codec::{self, ValueFormat};
use crate::schema::ReadOld;
use crate::{Key, Namespace, Schema, StateDescriptor, StateError, StateKind, StateValue, UserKey};

/// Marks the types of a reader without holding them.
type Types<T> = PhantomData<fn() -> T>;

/// Receives converted entries: `(key bytes, value bytes)`.
pub(crate) type EntrySink<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), StateError> + 'a;

/// How the values of a restored state are read.
pub(crate) enum ValueRead<V> {
    /// As the declared type, in the written format.
    Direct,
    /// As an older type, through the declared migration.
    Migrate(ReadOld<V>),
}

/// What a restore must do with a state's written entries.
pub(crate) enum Plan<V> {
    /// Nothing: they are in the current format and layout, of the declared types.
    AsIs,
    /// Convert every entry.
    Convert {
        /// The format they were written in.
        format: ValueFormat,
        /// How their values are read.
        value: ValueRead<V>,
        /// Lists and maps are stored whole per key (as before schemas were recorded).
        whole_collections: bool,
    },
}

impl<V> Plan<V> {
    /// Whether the entries must be converted.
    pub(crate) fn converts(&self) -> bool {
        matches!(self, Plan::Convert { .. })
    }
}

/// The declared shape of a registered state, with its key, namespace, user
/// key and value types: what restored entries are read as.
pub(crate) struct Reader<'d, K, N, UK, V> {
    name: &'d str,
    kind: StateKind,
    descriptor: &'d StateDescriptor<V>,
    _types: Types<(K, N, UK)>,
}

impl<'d, K: Key, N: Namespace, UK: UserKey, V: StateValue> Reader<'d, K, N, UK, V> {
    /// A reader for state `descriptor` of `kind`.
    pub(crate) fn new(kind: StateKind, descriptor: &'d StateDescriptor<V>) -> Self {
        Reader { name: descriptor.name(), kind, descriptor, _types: PhantomData }
    }

    /// The schema the job declares.
    pub(crate) fn schema(&self) -> Schema {
        Schema::of::<K, N, UK, V>(self.kind)
    }

    /// How the stored type was spelled before schemas were recorded.
    fn legacy_type_name(&self) -> &'static str {
        match self.kind {
            StateKind::Value | StateKind::Reducing => std::any::type_name::<(N, V)>(),
            StateKind::List => std::any::type_name::<(N, Vec<V>)>(),
            StateKind::Map => std::any::type_name::<(N, FxHashMap<UK, V>)>(),
        }
    }

    /// Decides how to read entries recorded as `written` in `format`; an
    /// error names the state and both descriptions when they cannot be read.
    pub(crate) fn plan(&self, written: &str, format: ValueFormat) -> Result<Plan<V>, StateError> {
        let declared = self.schema();
        let refuse = |reason: String| StateError::IncompatibleState {
            name: self.name.to_string(),
            declared: declared.to_string(),
            written: Schema::parse(written).map_or_else(|| written.to_string(), |s| s.to_string()),
            reason,
        };
        let Some(schema) = Schema::parse(written) else {
            // Written before schemas: the Rust type name of the stored type.
            if written == self.legacy_type_name() {
                let whole_collections = matches!(self.kind, StateKind::List | StateKind::Map);
                return Ok(Plan::Convert { format, value: ValueRead::Direct, whole_collections });
            }
            return Err(refuse(format!("it was written by an older weir as {written}, which is not what the job declares")));
        };
        let same_kind = |k: StateKind| {
            k == self.kind
                || (k, self.kind) == (StateKind::Value, StateKind::Reducing)
                || (k, self.kind) == (StateKind::Reducing, StateKind::Value)
        };
        if !same_kind(schema.kind)
            || schema.key != declared.key
            || schema.namespace != declared.namespace
            || schema.user_key != declared.user_key
        {
            return Err(refuse("only a value type can change between runs (through a migration)".to_string()));
        }
        if schema.value == declared.value {
            if format == ValueFormat::CURRENT {
                return Ok(Plan::AsIs);
            }
            return Ok(Plan::Convert { format, value: ValueRead::Direct, whole_collections: false });
        }
        match self.descriptor.migration(&schema.value) {
            Some(read) => Ok(Plan::Convert { format, value: ValueRead::Migrate(read.clone()), whole_collections: false }),
            None => Err(refuse(format!(
                "its value type differs and the job declares no migration from {} (StateDescriptor::migrate_from)",
                schema.value
            ))),
        }
    }

    /// Reads one value from the start of `bytes`: it and the bytes it took.
    fn read_prefix(&self, format: ValueFormat, value: &ValueRead<V>, bytes: &[u8]) -> Result<(V, usize), StateError> {
        let read = match value {
            ValueRead::Direct => codec::decode_prefix::<V>(format, bytes),
            ValueRead::Migrate(f) => f(format, bytes),
        };
        read.map_err(|e| StateError::Corrupt(format!("state '{}': a value does not decode: {e}", self.name)))
    }

    /// Reads one value that takes all of `bytes`.
    fn read_value(&self, format: ValueFormat, value: &ValueRead<V>, bytes: &[u8]) -> Result<V, StateError> {
        let (v, used) = self.read_prefix(format, value, bytes)?;
        if used != bytes.len() {
            return Err(StateError::Corrupt(format!(
                "state '{}': {} bytes follow a value of {used} bytes ({format})",
                self.name,
                bytes.len() - used
            )));
        }
        Ok(v)
    }

    /// Converts one written entry with `plan`, handing entries of the
    /// current format and layout to `out`.
    pub(crate) fn convert(&self, plan: &Plan<V>, key: &[u8], value: &[u8], out: &mut EntrySink<'_>) -> Result<(), StateError> {
        let Plan::Convert { format, value: read, whole_collections } = plan else {
            return out(key, value);
        };
        let format = *format;
        let corrupt = |what: &str, e: codec::CodecError| StateError::Corrupt(format!("state '{}': {what} does not decode: {e}", self.name));
        let (key_ns, used): ((K, N), usize) = codec::decode_prefix(format, key).map_err(|e| corrupt("a key", e))?;
        let mut new_key = codec::encode(&key_ns)?;
        let prefix = new_key.len();
        let mut new_value = Vec::new();
        match (self.kind, whole_collections) {
            (StateKind::Value | StateKind::Reducing, _) => {
                codec::encode_into(&self.read_value(format, read, value)?, &mut new_value)?;
                out(&new_key, &new_value)
            }
            (StateKind::List, true) => {
                let list: Vec<V> = codec::decode(format, value).map_err(|e| corrupt("a list", e))?;
                for v in &list {
                    codec::encode_into(v, &mut new_value)?;
                }
                out(&new_key, &new_value)
            }
            (StateKind::List, false) => {
                let mut rest = value;
                while !rest.is_empty() {
                    let (v, used) = self.read_prefix(format, read, rest)?;
                    codec::encode_into(&v, &mut new_value)?;
                    rest = &rest[used..];
                }
                out(&new_key, &new_value)
            }
            (StateKind::Map, true) => {
                let map: FxHashMap<UK, V> = codec::decode(format, value).map_err(|e| corrupt("a map", e))?;
                let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(map.len());
                for (uk, v) in &map {
                    new_key.truncate(prefix);
                    codec::encode_into(uk, &mut new_key)?;
                    entries.push((new_key.clone(), codec::encode(v)?));
                }
                entries.sort_unstable();
                for (k, v) in entries {
                    out(&k, &v)?;
                }
                Ok(())
            }
            (StateKind::Map, false) => {
                let uk: UK = codec::decode(format, &key[used..]).map_err(|e| corrupt("a user key", e))?;
                codec::encode_into(&uk, &mut new_key)?;
                codec::encode_into(&self.read_value(format, read, value)?, &mut new_value)?;
                out(&new_key, &new_value)
            }
        }
    }

    /// Converts the entries of a version-1 canonical block (value format 1,
    /// not framed: `codec(Vec<((key, namespace), stored)>)`, lists and maps
    /// stored whole), handing entries of the current format and layout to `out`.
    pub(crate) fn convert_v1(&self, bytes: &[u8], out: &mut EntrySink<'_>) -> Result<(), StateError> {
        let format = ValueFormat::LEGACY;
        let corrupt = |e: codec::CodecError| StateError::Corrupt(format!("state '{}': a version-1 block does not decode: {e}", self.name));
        let mut key = Vec::new();
        let mut value = Vec::new();
        match self.kind {
            StateKind::Value | StateKind::Reducing => {
                let rows: Vec<((K, N), V)> = codec::decode(format, bytes).map_err(corrupt)?;
                for (k, v) in &rows {
                    key.clear();
                    value.clear();
                    codec::encode_into(k, &mut key)?;
                    codec::encode_into(v, &mut value)?;
                    out(&key, &value)?;
                }
            }
            StateKind::List => {
                let rows: Vec<((K, N), Vec<V>)> = codec::decode(format, bytes).map_err(corrupt)?;
                for (k, list) in &rows {
                    key.clear();
                    value.clear();
                    codec::encode_into(k, &mut key)?;
                    for v in list {
                        codec::encode_into(v, &mut value)?;
                    }
                    out(&key, &value)?;
                }
            }
            StateKind::Map => {
                let rows: Vec<((K, N), FxHashMap<UK, V>)> = codec::decode(format, bytes).map_err(corrupt)?;
                for (k, map) in &rows {
                    for (uk, v) in map {
                        key.clear();
                        value.clear();
                        codec::encode_into(k, &mut key)?;
                        codec::encode_into(uk, &mut key)?;
                        codec::encode_into(v, &mut value)?;
                        out(&key, &value)?;
                    }
                }
            }
        }
        Ok(())
    }
}
