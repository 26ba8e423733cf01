#![allow(clippy::unwrap_used)]
use super::framing::*;
use super::*;
use crate::{KeyGroupOffset, SnapshotContent};

fn at() -> At<'static> {
    At { file: "op-0/keyed.state", key_group: 7 }
}

#[test]
fn varints_round_trip() {
    for v in [0u64, 1, 127, 128, 300, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
        let mut out = Vec::new();
        put_varint(&mut out, v);
        assert_eq!(get_varint(&out), Some((v, out.len())));
    }
    assert_eq!(get_varint(&[0x80, 0x80]), None, "cut short");
    assert_eq!(get_varint(&[0xff; 11]), None, "too long");
}

#[test]
fn timestamps_sort_as_bytes() {
    let ts = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
    for w in ts.windows(2) {
        assert!(ts_bytes(w[0]) < ts_bytes(w[1]));
        assert_eq!(ts_from_bytes(ts_bytes(w[0])), w[0]);
    }
}

/// Writes block `kg` of the file [`written`] makes (3: two states and a timer, 9: a timer, others nothing).
fn write_block(w: &mut CanonicalWriter, kg: u32, entries: usize) {
    w.begin_block(kg).unwrap();
    match kg {
        3 => {
            w.begin_state("empty", "(), u8", ValueFormat::CURRENT, true).unwrap();
            w.begin_state("v", "(), alloc::string::String", ValueFormat::CURRENT, true).unwrap();
            for i in 0..entries as u32 {
                w.push_entry(&i.to_be_bytes(), format!("value-{i}-{}", "x".repeat(40)).as_bytes()).unwrap();
            }
            w.begin_timers().unwrap();
            w.push_timer(ts_bytes(-5), b"k").unwrap();
        }
        9 => {
            w.begin_timers().unwrap();
            w.push_timer(ts_bytes(8), b"").unwrap();
        }
        _ => {}
    }
}

fn finished(w: CanonicalWriter) -> (Vec<u8>, Vec<KeyGroupOffset>) {
    let mut files = w.finish().unwrap();
    let f = files.pop().unwrap();
    let SnapshotContent::Bytes(bytes) = f.content else { panic!("bytes") };
    (bytes, f.key_group_offsets)
}

fn written(entries: usize) -> (Vec<u8>, Vec<KeyGroupOffset>) {
    let mut w = CanonicalWriter::default();
    for kg in [3, 4, 9] {
        write_block(&mut w, kg, entries);
    }
    finished(w)
}

#[test]
fn writers_of_consecutive_ranges_append_into_one_file() {
    let whole = written(5000);
    let mut parts: Vec<CanonicalWriter> = Vec::new();
    for range in [&[3u32][..], &[4], &[9], &[]] {
        let mut w = CanonicalWriter::default();
        for kg in range {
            write_block(&mut w, *kg, 5000);
        }
        parts.push(w);
    }
    let mut joined = CanonicalWriter::default();
    for part in parts {
        joined.append(part).unwrap();
    }
    let joined = finished(joined);
    assert_eq!(
        joined.1.iter().map(|o| (o.key_group, o.offset, o.len)).collect::<Vec<_>>(),
        whole.1.iter().map(|o| (o.key_group, o.offset, o.len)).collect::<Vec<_>>()
    );
    assert_eq!(joined.0, whole.0, "the same bytes as one writer's");
}

#[test]
fn blocks_round_trip_in_chunks() {
    let (bytes, offsets) = written(5000);
    assert_eq!(offsets.iter().map(|o| o.key_group).collect::<Vec<_>>(), vec![3, 9], "empty blocks leave nothing");
    let block = &bytes[offsets[0].offset as usize..(offsets[0].offset + offsets[0].len) as usize];
    assert!(block.len() < 5000 * 40 / 4, "compressed: {} bytes", block.len());
    let Parsed::V2(sections) = parse_block(at(), block).unwrap() else { panic!("v2") };
    assert_eq!(sections.len(), 2, "the empty state is left out");
    let Section::State { name, type_name, format, sorted, chunks } = &sections[0] else { panic!("state") };
    assert_eq!((*name, *type_name, *format, *sorted), ("v", "(), alloc::string::String", ValueFormat::CURRENT, true));
    let mut buf = Vec::new();
    let (mut n, mut pieces) = (0u32, 0);
    chunks
        .for_each(at(), &mut buf, |raw| {
            pieces += 1;
            for e in entries(raw) {
                let (k, v) = e.unwrap();
                assert_eq!(k, n.to_be_bytes());
                assert!(v.starts_with(format!("value-{n}-").as_bytes()));
                n += 1;
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(n, 5000);
    assert!(pieces > 1, "cut into chunks");
    let Section::Timers(format, t) = &sections[1] else { panic!("timers") };
    assert_eq!(*format, ValueFormat::CURRENT);
    let mut all = Vec::new();
    t.decompress_all(at(), &mut all).unwrap();
    assert_eq!(
        timers(&all).map(|t| t.unwrap()).map(|(ts, k)| (ts_from_bytes(ts), k.to_vec())).collect::<Vec<_>>(),
        vec![(-5, b"k".to_vec())]
    );
}

#[test]
fn damage_is_named_never_a_panic() {
    let (bytes, offsets) = written(300);
    let block = bytes[offsets[0].offset as usize..(offsets[0].offset + offsets[0].len) as usize].to_vec();
    // Every single-byte change and every cut is either an error naming the
    // file and key group, or (in a length or flag that still parses) a block.
    for i in 0..block.len() {
        for damaged in [
            {
                let mut b = block.clone();
                b[i] ^= 0x41;
                b
            },
            block[..i].to_vec(),
        ] {
            let result = parse_block(at(), &damaged).and_then(|p| match p {
                Parsed::V1(_) => Ok(()),
                Parsed::V2(sections) => {
                    let mut buf = Vec::new();
                    for s in sections {
                        let (Section::State { chunks, .. } | Section::Timers(_, chunks)) = s;
                        chunks.decompress_all(at(), &mut buf)?;
                    }
                    Ok(())
                }
            });
            if let Err(e) = result {
                let msg = e.to_string();
                assert!(matches!(e, StateError::Corrupt(_)) && msg.contains("op-0/keyed.state: key group 7"), "{msg}");
            }
        }
    }
    let mut later = block.clone();
    later[1] = 4;
    let msg = parse_block(at(), &later).err().unwrap().to_string();
    assert!(msg.contains("version 4"), "{msg}");
    // The first section's value format byte follows its kind, name and schema.
    let format_at = 2 + 1 + 1 + "v".len() + 1 + "(), alloc::string::String".len();
    assert_eq!(block[format_at], ValueFormat::CURRENT.number() as u8);
    let mut unknown = block.clone();
    unknown[format_at] = 9;
    let msg = parse_block(at(), &unknown).err().unwrap().to_string();
    assert!(msg.contains("value format 9 is unknown") && msg.contains("state 'v'"), "{msg}");
}

#[test]
fn entries_and_timers_report_cuts() {
    let mut raw = Vec::new();
    put_varint(&mut raw, 3);
    raw.extend_from_slice(b"ab");
    assert!(entries(&raw).next().unwrap().is_err());
    assert!(timers(&raw).next().unwrap().is_err());
}
