//! Records as user code sees them: what a deserializer reads from a topic,
//! and what a serializer hands to the sink.

/// A record read from Kafka, handed to a [`KafkaDeserializer`].
#[derive(Debug, Clone, Copy)]
pub struct KafkaRecord<'a> {
    /// Its topic.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// Its timestamp (ms), if it has one.
    pub timestamp: Option<i64>,
    /// Its key.
    pub key: Option<&'a [u8]>,
    /// Its value.
    pub value: Option<&'a [u8]>,
    /// Its headers, in order.
    pub headers: &'a [(&'a str, Option<&'a [u8]>)],
}

/// Turns a record read from Kafka into a stream element. Its event time is
/// the record's timestamp (`CreateTime` or `LogAppendTime`, as the topic
/// says); an `Err` names what is wrong with the record, and fails the job
/// with the record's topic, partition and offset, or sends the record to
/// the stream of bad records when the source is asked to (see
/// [`crate::KafkaSourceBuilder::bad_records`]).
///
/// Any `Fn(&KafkaRecord) -> Result<T, String>` is a deserializer:
///
/// ```
/// use weir_kafka::{KafkaDeserializer, KafkaRecord};
/// let mut utf8 = |r: &KafkaRecord<'_>| -> Result<String, String> {
///     let v = r.value.ok_or("no value")?;
///     String::from_utf8(v.to_vec()).map_err(|e| e.to_string())
/// };
/// let r = KafkaRecord { topic: "t", partition: 0, offset: 7, timestamp: Some(1), key: None, value: Some(b"hi"), headers: &[] };
/// assert_eq!(utf8.deserialize(&r).unwrap(), "hi");
/// ```
pub trait KafkaDeserializer<T>: Send {
    /// The element `record` stands for.
    fn deserialize(&mut self, record: &KafkaRecord<'_>) -> Result<T, String>;
    /// The element's event time (ms): by default the record's timestamp
    /// (0 if it has none). A deserializer whose records carry their event
    /// time in the value says so here. (librdkafka's producers cannot write
    /// the timestamp 0: they put the current time in its place.)
    fn event_time(&mut self, record: &KafkaRecord<'_>, element: &T) -> i64 {
        let _ = element;
        record.timestamp.unwrap_or(0)
    }
}

impl<T, F: FnMut(&KafkaRecord<'_>) -> Result<T, String> + Send> KafkaDeserializer<T> for F {
    fn deserialize(&mut self, record: &KafkaRecord<'_>) -> Result<T, String> {
        self(record)
    }
}

/// A record that could not be deserialized: where it is, what it holds and
/// why it was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// Its topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value.
    pub value: Option<Vec<u8>>,
    /// What the deserializer said.
    pub error: String,
}

impl std::fmt::Display for BadRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "topic {} partition {} offset {}: {}", self.topic, self.partition, self.offset, self.error)
    }
}

/// A record to write to Kafka, made by a [`KafkaSerializer`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProducerRecord {
    /// The topic (the sink's default topic if `None`).
    pub topic: Option<String>,
    /// The partition (chosen by the key's hash, or at random without a key, if `None`).
    pub partition: Option<i32>,
    /// The key.
    #[serde(with = "serde_bytes")]
    pub key: Option<Vec<u8>>,
    /// The value.
    #[serde(with = "serde_bytes")]
    pub value: Option<Vec<u8>>,
    /// Headers, in order.
    pub headers: Vec<(String, Option<serde_bytes::ByteBuf>)>,
    /// The timestamp (ms); the element's event time if `None`.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record with just a value.
    pub fn value(value: impl Into<Vec<u8>>) -> Self {
        ProducerRecord { value: Some(value.into()), ..Default::default() }
    }
    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }
}

/// Turns a stream element into the record the sink writes: its topic,
/// partition, key, value and headers.
///
/// Any `Fn(&T) -> ProducerRecord` is a serializer:
///
/// ```
/// use weir_kafka::{KafkaSerializer, ProducerRecord};
/// let mut csv = |(k, n): &(String, u64)| ProducerRecord::value(format!("{k},{n}")).with_key(k.as_bytes());
/// assert_eq!(csv.serialize(&("a".to_string(), 3)).value.unwrap(), b"a,3");
/// ```
pub trait KafkaSerializer<T>: Send {
    /// The record for `element`.
    fn serialize(&mut self, element: &T) -> ProducerRecord;
}

impl<T, F: FnMut(&T) -> ProducerRecord + Send> KafkaSerializer<T> for F {
    fn serialize(&mut self, element: &T) -> ProducerRecord {
        self(element)
    }
}
