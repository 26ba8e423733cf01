//! The Kafka source: the partitions of its topics are its splits, read by
//! the instance [`crate::assign`] names, from offsets kept in checkpoints.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};
use weir_runtime::{Event, JobError, Notification, Source, SourceStatus};
use weir_state::codec::{self, ValueFormat};

use crate::config::{KafkaSourceConfig, StartFrom};
use crate::watermarks::PartitionWatermarks;
use crate::{assign, BadRecord, KafkaRecord, TopicPartition};

/// How long a metadata or offset request to the brokers may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a fresh start waits for its topics to be reachable.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a transient consumer error is logged at most.
const WARN_EVERY: Duration = Duration::from_secs(5);

/// Turns a record into an element, or refuses it (the error then fails the
/// job or, if the source was asked to, is turned into an element itself).
pub(crate) type Decode<T> = Box<dyn FnMut(&KafkaRecord<'_>) -> Result<(T, i64), String> + Send>;
/// Turns a refused record into an element, if bad records are kept.
pub(crate) type OnBad<T> = Option<Arc<dyn Fn(BadRecord) -> T + Send + Sync>>;

/// The consumer's context: librdkafka reports the end of a partition as an
/// error as well as an event; only the event matters here.
pub(crate) struct SourceContext;

impl rdkafka::ClientContext for SourceContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let eof = matches!(error, KafkaError::PartitionEOF(_) | KafkaError::Global(rdkafka::types::RDKafkaErrorCode::PartitionEOF));
        if !eof {
            warn!("librdkafka: {error}: {reason}");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for SourceContext {}

/// One partition's place in the checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PartitionPosition {
    tp: TopicPartition,
    /// The offset of the next record to read.
    next: i64,
    /// The highest record timestamp read.
    max_ts: Option<i64>,
    /// Where a bounded source stops (one past its last record).
    end: Option<i64>,
}

/// A source instance's checkpointed position.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Position {
    partitions: Vec<PartitionPosition>,
}

/// A partition being read.
#[derive(Debug, Clone, Copy)]
struct Reading {
    next: i64,
    end: Option<i64>,
}

/// The partitions being read, by index (the same as in [`PartitionWatermarks`]).
#[derive(Default)]
struct Partitions {
    all: Vec<(TopicPartition, Reading)>,
    /// The index of the last partition a record came from: records come in
    /// runs of one partition.
    last: usize,
}

impl Partitions {
    /// The index of `partition` of `topic`, found without allocating.
    #[inline]
    fn index_of(&mut self, topic: &str, partition: i32) -> Option<usize> {
        let hit = |(tp, _): &(TopicPartition, Reading)| tp.partition == partition && tp.topic == topic;
        if self.all.get(self.last).is_some_and(hit) {
            return Some(self.last);
        }
        let i = self.all.iter().position(hit)?;
        self.last = i;
        Some(i)
    }
    fn contains(&self, tp: &TopicPartition) -> bool {
        self.all.iter().any(|(t, _)| t == tp)
    }
}

/// An instance of the Kafka source.
pub struct KafkaSource<T> {
    config: Arc<KafkaSourceConfig>,
    consumer: BaseConsumer<SourceContext>,
    decode: Decode<T>,
    on_bad: OnBad<T>,
    subtask: u32,
    parallelism: u32,
    /// Partitions this instance reads; empty until the first poll assigns them.
    reading: Partitions,
    /// Restored positions of the partitions this instance owns, assigned at the first poll.
    restored: Option<Vec<PartitionPosition>>,
    started: bool,
    watermarks: PartitionWatermarks,
    watermark: Option<i64>,
    clock: Instant,
    next_discovery: Option<Instant>,
    /// Offsets of snapshots taken, committed to the group (for monitoring)
    /// when their checkpoint completes.
    snapshots: VecDeque<(u64, Vec<(TopicPartition, i64)>)>,
    barrier: Option<u64>,
    last_warning: Option<Instant>,
}

impl<T> KafkaSource<T> {
    /// Instance `subtask` of `parallelism`.
    pub(crate) fn new(
        config: Arc<KafkaSourceConfig>,
        decode: Decode<T>,
        on_bad: OnBad<T>,
        subtask: u32,
        parallelism: u32,
    ) -> Result<Self, JobError> {
        let consumer: BaseConsumer<SourceContext> = config
            .consumer_config(subtask)
            .create_with_context(SourceContext)
            .map_err(|e| input(format!("cannot create a Kafka consumer: {e}")))?;
        let watermarks = PartitionWatermarks::new(config.out_of_orderness_ms, config.idleness.map(|d| d.as_millis() as i64));
        Ok(KafkaSource {
            config,
            consumer,
            decode,
            on_bad,
            subtask,
            parallelism,
            reading: Partitions::default(),
            restored: None,
            started: false,
            watermarks,
            watermark: None,
            clock: Instant::now(),
            next_discovery: None,
            snapshots: VecDeque::new(),
            barrier: None,
            last_warning: None,
        })
    }

    fn now_ms(&self) -> i64 {
        self.clock.elapsed().as_millis() as i64
    }

    /// The partitions of the source's topics, from the brokers' metadata.
    fn partitions(&self) -> Result<Vec<TopicPartition>, String> {
        let mut all = Vec::new();
        for topic in &self.config.topics {
            let md = self
                .consumer
                .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
                .map_err(|e| format!("cannot read the metadata of topic {topic}: {e}"))?;
            let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
                return Err(format!("topic {topic} does not exist"));
            };
            if let Some(e) = t.error() {
                return Err(format!("topic {topic}: {}", rdkafka::types::RDKafkaErrorCode::from(e)));
            }
            all.extend(t.partitions().iter().map(|p| TopicPartition { topic: topic.clone(), partition: p.id() }));
        }
        all.sort();
        Ok(all)
    }

    /// The offset a partition read for the first time starts at.
    fn start_offset(&self, tp: &TopicPartition, start: StartFrom) -> Result<i64, String> {
        let (low, high) = self
            .consumer
            .fetch_watermarks(&tp.topic, tp.partition, REQUEST_TIMEOUT)
            .map_err(|e| format!("cannot read the offsets of {tp}: {e}"))?;
        match start {
            StartFrom::Earliest => Ok(low),
            StartFrom::Latest => Ok(high),
            StartFrom::Timestamp(ts) => {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(ts)).map_err(|e| e.to_string())?;
                let found =
                    self.consumer.offsets_for_times(tpl, REQUEST_TIMEOUT).map_err(|e| format!("cannot look up {tp} by time: {e}"))?;
                Ok(match found.find_partition(&tp.topic, tp.partition).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o,
                    _ => high,
                })
            }
            StartFrom::GroupOffsets => {
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition(&tp.topic, tp.partition);
                let found = self
                    .consumer
                    .committed_offsets(tpl, REQUEST_TIMEOUT)
                    .map_err(|e| format!("cannot read the group's offset of {tp}: {e}"))?;
                Ok(match found.find_partition(&tp.topic, tp.partition).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o,
                    _ => low,
                })
            }
        }
    }

    /// Starts reading `tps` at the offsets given.
    fn read_from(&mut self, tps: Vec<(TopicPartition, Reading, Option<i64>)>) -> Result<(), JobError> {
        if tps.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        let now = self.now_ms();
        for (tp, r, max_ts) in tps {
            tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(r.next)).map_err(|e| input(e.to_string()))?;
            info!(partition = %tp, offset = r.next, subtask = self.subtask, "reading Kafka partition");
            let i = self.watermarks.assign(tp.clone(), max_ts, now);
            debug_assert_eq!(i, self.reading.all.len());
            self.reading.all.push((tp, r));
        }
        self.consumer.incremental_assign(&tpl).map_err(|e| input(format!("cannot assign Kafka partitions: {e}")))
    }

    /// Assigns this instance's partitions: restored ones at their offsets,
    /// others at the start position (a fresh start) or the earliest offset
    /// (partitions added since the checkpoint).
    fn start(&mut self) -> Result<(), JobError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let all = loop {
            match self.partitions() {
                Ok(all) => break all,
                Err(e) if Instant::now() < deadline && !e.ends_with("does not exist") => {
                    self.warn(&e);
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(input(e)),
            }
        };
        let restored: BTreeMap<TopicPartition, PartitionPosition> =
            self.restored.take().unwrap_or_default().into_iter().map(|p| (p.tp.clone(), p)).collect();
        let was_restored = !restored.is_empty();
        let mut assign = Vec::new();
        for tp in all.into_iter().filter(|tp| assign::owns(tp, self.subtask, self.parallelism)) {
            if let Some(p) = restored.get(&tp) {
                assign.push((tp, Reading { next: p.next, end: p.end }, p.max_ts));
                continue;
            }
            let start = if was_restored { StartFrom::Earliest } else { self.config.start };
            let next = self.start_offset(&tp, start).map_err(input)?;
            let end = if self.config.bounded { Some(self.start_offset(&tp, StartFrom::Latest).map_err(input)?) } else { None };
            assign.push((tp, Reading { next, end }, None));
        }
        // A restored partition that no longer exists (its topic deleted) keeps its position.
        self.read_from(assign)?;
        self.started = true;
        self.next_discovery = self.config.discovery_interval.map(|d| Instant::now() + d);
        Ok(())
    }

    /// Picks up partitions added to the topics since the last look; they
    /// are read from their earliest offset.
    fn discover(&mut self) -> Result<(), JobError> {
        self.next_discovery = self.config.discovery_interval.map(|d| Instant::now() + d);
        let all = match self.partitions() {
            Ok(all) => all,
            Err(e) => {
                self.warn(&e);
                return Ok(());
            }
        };
        let mut added = Vec::new();
        for tp in all.into_iter().filter(|tp| assign::owns(tp, self.subtask, self.parallelism) && !self.reading.contains(tp)) {
            let next = match self.start_offset(&tp, StartFrom::Earliest) {
                Ok(o) => o,
                Err(e) => {
                    self.warn(&e);
                    return Ok(());
                }
            };
            added.push((tp, Reading { next, end: None }, None));
        }
        self.read_from(added)
    }

    fn warn(&mut self, message: &str) {
        if self.last_warning.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            warn!(subtask = self.subtask, "Kafka source: {message}");
            self.last_warning = Some(Instant::now());
        }
    }

    /// Whether a bounded source has read everything up to its end offsets.
    fn all_read(&self) -> bool {
        self.config.bounded && self.reading.all.iter().all(|(_, r)| r.end.is_some_and(|e| r.next >= e))
    }

    /// After an end-of-partition event: moves the partitions whose fetch
    /// position passed their end offset (past control records of
    /// transactions, which are never delivered) to the end.
    fn catch_up_positions(&mut self) {
        let Ok(positions) = self.consumer.position() else { return };
        for e in positions.elements() {
            let Some(i) = self.reading.index_of(e.topic(), e.partition()) else { continue };
            if let (r, Offset::Offset(pos)) = (&mut self.reading.all[i].1, e.offset()) {
                if r.end.is_some_and(|end| pos >= end) && pos > r.next {
                    r.next = pos;
                }
            }
        }
    }
}

fn input(message: String) -> JobError {
    JobError::Input(message)
}

impl<T: Send> Source<T> for KafkaSource<T> {
    fn poll(&mut self, out: &mut Vec<Event<T>>, max: usize) -> Result<SourceStatus, JobError> {
        if !self.started {
            self.start()?;
        }
        if self.next_discovery.is_some_and(|t| Instant::now() >= t) {
            self.discover()?;
        }
        let now = self.now_ms();
        let mut polled = 0;
        while polled < max {
            // Never blocks: an idle source waits on its control channel, where
            // barriers and stop requests find it at once.
            let msg = match self.consumer.poll(Duration::ZERO) {
                None => break,
                Some(Ok(m)) => m,
                Some(Err(KafkaError::PartitionEOF(_))) => {
                    self.catch_up_positions();
                    continue;
                }
                Some(Err(KafkaError::MessageConsumptionFatal(code))) => return Err(input(format!("Kafka consumer failed: {code}"))),
                Some(Err(e)) => {
                    // The client retries by itself (a broker away, a leader moving).
                    let m = e.to_string();
                    self.warn(&m);
                    break;
                }
            };
            let (topic, partition, offset) = (msg.topic(), msg.partition(), msg.offset());
            let Some(index) = self.reading.index_of(topic, partition) else { continue };
            let r = &mut self.reading.all[index].1;
            if offset < r.next || r.end.is_some_and(|e| offset >= e) {
                continue; // before the position (a re-fetch) or past a bounded end
            }
            r.next = offset + 1;
            let timestamp = msg.timestamp().to_millis();
            // Most records have no headers: no allocation then.
            let headers: Vec<(&str, Option<&[u8]>)> = match msg.headers() {
                Some(h) => (0..h.count()).map(|i| h.get(i)).map(|hd| (hd.key, hd.value)).collect(),
                None => Vec::new(),
            };
            let record = KafkaRecord { topic, partition, offset, timestamp, key: msg.key(), value: msg.payload(), headers: &headers };
            let (value, ts) = match (self.decode)(&record) {
                Ok(v) => v,
                Err(error) => {
                    let bad = BadRecord {
                        topic: topic.to_string(),
                        partition,
                        offset,
                        key: record.key.map(<[u8]>::to_vec),
                        value: record.value.map(<[u8]>::to_vec),
                        error,
                    };
                    match &self.on_bad {
                        Some(f) => (f(bad), timestamp.unwrap_or(0)),
                        None => return Err(input(format!("a Kafka record cannot be read: {bad}"))),
                    }
                }
            };
            self.watermarks.record(index, ts, now);
            out.push(Event { ts, value });
            polled += 1;
        }
        self.watermark = self.watermarks.current(self.now_ms());
        Ok(if polled > 0 {
            SourceStatus::More
        } else if self.all_read() {
            SourceStatus::Exhausted
        } else {
            SourceStatus::Idle
        })
    }

    fn watermark(&self) -> Option<i64> {
        self.watermark
    }

    fn on_barrier(&mut self, checkpoint: u64) {
        self.barrier = Some(checkpoint);
    }

    fn snapshot(&mut self) -> Result<Vec<u8>, JobError> {
        let mut partitions: Vec<PartitionPosition> = self
            .reading
            .all
            .iter()
            .zip(self.watermarks.max_timestamps())
            .map(|((tp, r), (_, max_ts))| PartitionPosition { tp: tp.clone(), next: r.next, max_ts, end: r.end })
            .collect();
        // Not started yet: the restored positions are still the position.
        if let Some(restored) = &self.restored {
            partitions.extend(restored.iter().cloned());
        }
        // Kept only to commit to a consumer group when the checkpoint completes.
        if let Some(id) = self.barrier.take().filter(|_| self.config.group_id.is_some()) {
            self.snapshots.push_back((id, partitions.iter().map(|p| (p.tp.clone(), p.next)).collect()));
            while self.snapshots.len() > 16 {
                self.snapshots.pop_front();
            }
        }
        Ok(codec::encode(&Position { partitions })?)
    }

    fn restore(&mut self, position: &[u8], format: ValueFormat) -> Result<(), JobError> {
        self.restore_rescaled(self.parallelism, &[(self.subtask, position.to_vec())], format)
    }

    fn restore_rescaled(&mut self, _parallelism: u32, positions: &[(u32, Vec<u8>)], format: ValueFormat) -> Result<(), JobError> {
        let mut mine = Vec::new();
        for (s, bytes) in positions {
            let p: Position = codec::decode(format, bytes)
                .map_err(|e| input(format!("the checkpointed position of Kafka source instance {s} cannot be read: {e}")))?;
            mine.extend(p.partitions.into_iter().filter(|p| assign::owns(&p.tp, self.subtask, self.parallelism)));
        }
        self.restored = Some(mine);
        Ok(())
    }

    fn checkpoint_complete(&mut self, n: &Notification) -> Result<(), JobError> {
        if self.config.group_id.is_none() || !n.commits() {
            return Ok(());
        }
        let mut latest = None;
        while self.snapshots.front().is_some_and(|(id, _)| *id <= n.id) {
            latest = self.snapshots.pop_front();
        }
        let Some((_, offsets)) = latest else { return Ok(()) };
        let mut tpl = TopicPartitionList::new();
        for (tp, next) in offsets {
            if tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(next)).is_err() {
                return Ok(());
            }
        }
        // For monitoring only (consumer lag): positions live in checkpoints.
        if let Err(e) = self.consumer.commit(&tpl, CommitMode::Sync) {
            self.warn(&format!("cannot commit offsets to the consumer group: {e}"));
        }
        Ok(())
    }
}
