//! What a checkpoint records about a state, so that a later job, built by
//! another compiler from moved code, can tell whether it may read it.
//!
//! Each state is described by its name (given by the user), its kind, and
//! the stable tags of its namespace, user key (map state) and value types.
//! A tag is chosen by the type's author through [`StateType`] and carries a
//! schema version; nothing compiler-generated is written. A restore reads a
//! state only when the written description equals the declared one, or a
//! declared migration reads the written value type ([`StateDescriptor::migrate_from`]).
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use weir_state::{state_type, StateDescriptor, StateType};
//!
//! #[derive(Clone, Serialize, Deserialize)]
//! struct CartV1 { items: u32 }
//! state_type!(CartV1, "shop.Cart");
//!
//! #[derive(Clone, Serialize, Deserialize)]
//! struct Cart { items: u32, total_cents: u64 }
//! state_type!(Cart, "shop.Cart", 2);
//!
//! assert_eq!(Cart::description(), "shop.Cart@2");
//! assert_eq!(<(i64, String)>::description(), "(i64,String)");
//! let carts = StateDescriptor::<Cart>::new("carts").migrate_from(|old: CartV1| Cart { items: old.items, total_cents: 0 });
//! assert_eq!(carts.name(), "carts");
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError, ValueFormat};

/// A type that keyed state can hold, with a stable identity.
///
/// Implemented for the primitive types, `String`, `()`, `Option`, `Vec`,
/// `Box`, tuples of up to four and the standard maps and sets (with the
/// tags of their parts). A type of the job's own declares its tag, and
/// its schema version when it changes, with [`state_type!`](crate::state_type)
/// or by hand:
///
/// ```
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// struct Session { clicks: u64 }
/// impl weir_state::StateType for Session {
///     const VERSION: u32 = 1;
///     fn type_tag() -> std::borrow::Cow<'static, str> {
///         "analytics.Session".into()
///     }
/// }
/// ```
///
/// The tag must not change when the type moves or is renamed: it is what
/// checkpoints record. Bump the version when the encoded form changes (a
/// field added, removed or retyped) and declare a migration from the older
/// version where state of it must still be read.
pub trait StateType: Clone + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The type's schema version (1 unless the type says otherwise).
    const VERSION: u32 = 1;

    /// The type's stable tag.
    fn type_tag() -> Cow<'static, str>;

    /// Tag and version as checkpoints record them: `tag`, or `tag@version`
    /// from version 2 on.
    fn description() -> String {
        match Self::VERSION {
            1 => Self::type_tag().into_owned(),
            v => format!("{}@{v}", Self::type_tag()),
        }
    }
}

/// Declares the stable tag (and optionally the schema version) of a type
/// that keyed state holds: `state_type!(Type, "tag")` or
/// `state_type!(Type, "tag", version)`. See [`StateType`].
#[macro_export]
macro_rules! state_type {
    ($t:ty, $tag:expr) => {
        $crate::state_type!($t, $tag, 1);
    };
    ($t:ty, $tag:expr, $version:expr) => {
        impl $crate::StateType for $t {
            const VERSION: u32 = $version;
            fn type_tag() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed($tag)
            }
        }
    };
}

macro_rules! primitive {
    ($($t:ty => $tag:literal),* $(,)?) => {$(
        impl StateType for $t {
            fn type_tag() -> Cow<'static, str> {
                Cow::Borrowed($tag)
            }
        }
    )*};
}
primitive!(
    u8 => "u8", u16 => "u16", u32 => "u32", u64 => "u64", u128 => "u128", usize => "u64",
    i8 => "i8", i16 => "i16", i32 => "i32", i64 => "i64", i128 => "i128", isize => "i64",
    f32 => "f32", f64 => "f64", bool => "bool", char => "char", String => "String", () => "()",
);

impl<T: StateType> StateType for Option<T> {
    fn type_tag() -> Cow<'static, str> {
        format!("Option<{}>", T::description()).into()
    }
}
impl<T: StateType> StateType for Vec<T> {
    fn type_tag() -> Cow<'static, str> {
        format!("Vec<{}>", T::description()).into()
    }
}
impl<T: StateType> StateType for Box<T> {
    fn type_tag() -> Cow<'static, str> {
        T::description().into()
    }
}
impl<T: StateType + Ord> StateType for BTreeSet<T> {
    fn type_tag() -> Cow<'static, str> {
        format!("Set<{}>", T::description()).into()
    }
}
impl<T: StateType + Eq + std::hash::Hash, S: std::hash::BuildHasher + Default + Clone + Send + Sync + 'static> StateType for HashSet<T, S> {
    fn type_tag() -> Cow<'static, str> {
        format!("Set<{}>", T::description()).into()
    }
}
impl<K: StateType + Ord, V: StateType> StateType for BTreeMap<K, V> {
    fn type_tag() -> Cow<'static, str> {
        format!("Map<{},{}>", K::description(), V::description()).into()
    }
}
impl<K: StateType + Eq + std::hash::Hash, V: StateType, S: std::hash::BuildHasher + Default + Clone + Send + Sync + 'static> StateType
    for HashMap<K, V, S>
{
    fn type_tag() -> Cow<'static, str> {
        format!("Map<{},{}>", K::description(), V::description()).into()
    }
}
macro_rules! tuple {
    ($($n:ident),+) => {
        impl<$($n: StateType),+> StateType for ($($n,)+) {
            fn type_tag() -> Cow<'static, str> {
                let parts: Vec<String> = vec![$($n::description()),+];
                format!("({})", parts.join(",")).into()
            }
        }
    };
}
tuple!(A);
tuple!(A, B);
tuple!(A, B, C);
tuple!(A, B, C, D);

/// What a state holds per key (and namespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    /// One value ([`crate::ValueState`]).
    Value,
    /// A list of values, stored as one entry that grows by appending ([`crate::ListState`]).
    List,
    /// A map, each entry stored on its own ([`crate::MapState`]).
    Map,
    /// One value that added values are folded into ([`crate::ReducingState`]).
    Reducing,
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StateKind::Value => "value",
            StateKind::List => "list",
            StateKind::Map => "map",
            StateKind::Reducing => "reducing",
        })
    }
}

/// The description of a state that checkpoints record (as JSON).
///
/// ```
/// use weir_state::{Schema, StateKind};
/// let s = Schema::of::<u64, (), String, u64>(StateKind::Map);
/// assert_eq!(s.to_string(), "map state, key u64, namespace (), user key String, value u64");
/// assert_eq!(Schema::parse(&s.to_json()), Some(s));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// The state's kind.
    pub kind: StateKind,
    /// The key type's description (the key of the stream).
    pub key: String,
    /// The namespace type's description.
    pub namespace: String,
    /// The user key type's description (map state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_key: Option<String>,
    /// The value type's description (a list's element, a map's value).
    pub value: String,
}

impl Schema {
    /// The schema of a state of `kind` of stream key `K`, over namespace
    /// `N`, user key `UK` (`()` where the kind has none) and value `V`.
    pub fn of<K: StateType, N: StateType, UK: StateType, V: StateType>(kind: StateKind) -> Self {
        Schema {
            kind,
            key: K::description(),
            namespace: N::description(),
            user_key: (kind == StateKind::Map).then(UK::description),
            value: V::description(),
        }
    }

    /// Where state `name` of this schema is among the states a backend has
    /// `registered` (name and schema each), if it is: registered again, a
    /// state must ask for the schema it was registered with.
    pub(crate) fn find_registered<'a>(
        &self,
        name: &str,
        registered: impl IntoIterator<Item = (&'a str, &'a Schema)>,
    ) -> Result<Option<usize>, crate::StateError> {
        let Some((i, (_, existing))) = registered.into_iter().enumerate().find(|(_, (n, _))| *n == name) else { return Ok(None) };
        if existing != self {
            return Err(crate::StateError::TypeConflict {
                name: name.to_string(),
                existing: existing.to_string(),
                requested: self.to_string(),
            });
        }
        Ok(Some(i))
    }

    /// The JSON that checkpoints record.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A recorded description, or `None` when it is not one of this form
    /// (checkpoints written before schemas were recorded hold Rust type names).
    pub fn parse(recorded: &str) -> Option<Schema> {
        if !recorded.starts_with('{') {
            return None;
        }
        serde_json::from_str(recorded).ok()
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} state, key {}, namespace {}", self.kind, self.key, self.namespace)?;
        if let Some(k) = &self.user_key {
            write!(f, ", user key {k}")?;
        }
        write!(f, ", value {}", self.value)
    }
}

/// Reads a value of an older description from the start of some bytes, as
/// the declared type: the value and the bytes it took.
pub(crate) type ReadOld<V> = Arc<dyn Fn(ValueFormat, &[u8]) -> Result<(V, usize), CodecError> + Send + Sync>;

/// How a job declares a state: its name, and the migrations that read
/// older versions of its value type.
///
/// ```
/// use weir_state::StateDescriptor;
/// // Counts were kept as u32; they are u64 now.
/// let counts = StateDescriptor::<u64>::new("counts").migrate_from(|old: u32| u64::from(old));
/// assert_eq!(counts.migrations(), vec!["u32".to_string()]);
/// ```
pub struct StateDescriptor<V> {
    name: String,
    migrations: Vec<(String, ReadOld<V>)>,
}

impl<V> Clone for StateDescriptor<V> {
    fn clone(&self) -> Self {
        StateDescriptor { name: self.name.clone(), migrations: self.migrations.clone() }
    }
}

impl<V> fmt::Debug for StateDescriptor<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateDescriptor").field("name", &self.name).field("migrations", &self.migrations()).finish()
    }
}

impl<V: StateType> StateDescriptor<V> {
    /// A state named `name`, read only as the value type it declares.
    pub fn new(name: impl Into<String>) -> Self {
        StateDescriptor { name: name.into(), migrations: Vec::new() }
    }

    /// Also reads state written with value type `Old` (another tag or
    /// version), turning each value into the declared type with `f`. A
    /// restore migrates every value of the state once, when the job
    /// registers it; later checkpoints hold the declared type.
    pub fn migrate_from<Old: StateType>(mut self, f: impl Fn(Old) -> V + Send + Sync + 'static) -> Self {
        let read: ReadOld<V> = Arc::new(move |format, bytes| codec::decode_prefix::<Old>(format, bytes).map(|(old, used)| (f(old), used)));
        self.migrations.push((Old::description(), read));
        self
    }
}

impl<V> StateDescriptor<V> {
    /// The state's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value descriptions it migrates from.
    pub fn migrations(&self) -> Vec<String> {
        self.migrations.iter().map(|(d, _)| d.clone()).collect()
    }

    /// The migration from value description `from`, if one is declared.
    pub(crate) fn migration(&self, from: &str) -> Option<&ReadOld<V>> {
        self.migrations.iter().find(|(d, _)| d == from).map(|(_, r)| r)
    }
}

impl<V: StateType> From<&str> for StateDescriptor<V> {
    fn from(name: &str) -> Self {
        StateDescriptor::new(name)
    }
}

impl<V: StateType> From<String> for StateDescriptor<V> {
    fn from(name: String) -> Self {
        StateDescriptor::new(name)
    }
}
