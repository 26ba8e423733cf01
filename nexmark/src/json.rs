//! Events as JSON lines.

use std::borrow::Borrow;
use std::io::{self, Write};

use crate::model::Event;

/// Writes `events` to `w` as JSON lines: one object per event and line, the
/// event's kind under `"kind"` (`"person"`, `"auction"` or `"bid"`) and its
/// fields under the names of the Nexmark specification (`id`, `name`,
/// `emailAddress`, `creditCard`, `city`, `state`, `dateTime`, `extra` for a
/// person; `id`, `itemName`, `description`, `initialBid`, `reserve`,
/// `dateTime`, `expires`, `seller`, `category`, `extra` for an auction;
/// `auction`, `bidder`, `price`, `channel`, `url`, `dateTime`, `extra` for a
/// bid). Times are milliseconds since the epoch. Each line parses back into
/// an [`Event`] with `serde_json::from_str`.
///
/// ```
/// use weir_nexmark::{event, write_json_lines, GeneratorConfig};
///
/// let config = GeneratorConfig::default();
/// let mut out = Vec::new();
/// write_json_lines(&mut out, (0..3).map(|n| event(&config, n)))?;
/// let text = String::from_utf8(out)?;
/// assert_eq!(text.lines().count(), 3);
/// assert!(text.starts_with(r#"{"kind":"person","id":1000,"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_json_lines<W, I>(mut w: W, events: I) -> io::Result<()>
where
    W: Write,
    I: IntoIterator,
    I::Item: Borrow<Event>,
{
    for event in events {
        serde_json::to_writer(&mut w, event.borrow())?;
        w.write_all(b"\n")?;
    }
    Ok(())
}
