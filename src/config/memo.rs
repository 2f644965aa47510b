//! What the webhooks of the last file applied checked to, so that a plan of a large file
//! reads again only the entries that changed.
//!
//! A pull request that touches one webhook of many leaves the others' text as it was,
//! byte for byte. Each entry of `webhooks:` is found by a scan of the lines (an item's
//! `- ` at one indentation, its other lines deeper), and known by the SHA-256 of its
//! text. The entries of the file applied are kept beside the state with what they
//! checked to ([`Memo::write`]). A later file is read with each entry found there
//! replaced by a comment where its `- ` was and empty lines after it (so that
//! everything else keeps its line and column, and a block scalar before it ends where
//! it did), and those entries are taken from the memo. The rest of the file is read and checked
//! as always, with the remembered ids among the others (duplicates, routes).
//!
//! The memo only saves time; it never decides anything. An entry is remembered only when
//! the parser read it exactly where the scan found it, and its text holds no anchor,
//! alias or tag (whose meaning comes from elsewhere in the file). A file read with the
//! memo must read without a single problem, its `webhooks:` where the scan found it and
//! each entry read where the scan found it; otherwise it is read again as it is, and
//! its problems are the ones shown. A memo written by another build is not used.

use hashbrown::HashMap;
use std::io::Read as _;
use std::ops::Range;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::lift::{self, BEGIN, END, body};
use super::problem::Position;
use super::{Checked, Config, Mention, Sealed, Webhook, bounds, checked_among, tree};

/// The memo's file, in the state directory.
pub const FILE: &str = "checked-entries.json";

/// The rules a remembered entry was checked by: this build's version and sources of
/// the config's checks, from `build.rs`.
const RULES: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("HOOKWARDEN_CONFIG_RULES"));

/// A memo larger than this is not read (about 40 times the largest a file can make).
const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// The entries of a file applied, by the SHA-256 of their text.
#[derive(Debug, Default)]
pub struct Memo {
    entries: HashMap<[u8; 32], Entry>,
}

/// What one entry checked to; positions are from its first line.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// The SHA-256 of its text, written in lower-case hex.
    #[serde(with = "hex_key")]
    key: [u8; 32],
    id: String,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channel: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    mentions: Vec<(String, Place)>,
    at: Place,
    /// `sha256:<hex>` of the URL's ciphertext, where its `age:` key is, and where its
    /// block is in the entry's text.
    url: (String, Place, Block),
}

/// A position as lines after the entry's first line, and the column.
type Place = (usize, usize);

/// An armored block written as a literal scalar: the bytes of its lines from BEGIN to
/// END in the entry's text, and their indentation.
type Block = (usize, usize, usize);

#[derive(Serialize, Deserialize)]
struct Stored {
    rules: String,
    entries: Vec<Entry>,
}

impl Memo {
    /// The memo in `dir`; empty when there is none, or it cannot be read, or another
    /// build wrote it.
    pub fn read(dir: &Path) -> Memo {
        let Ok(mut file) = std::fs::File::open(dir.join(FILE)) else {
            return Memo::default();
        };
        let size = file.metadata().map_or(0, |m| m.len());
        if size > MAX_BYTES {
            return Memo::default();
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + 1);
        if file.by_ref().take(MAX_BYTES).read_to_end(&mut bytes).is_err() {
            return Memo::default();
        }
        let Ok(stored) = serde_json::from_slice::<Stored>(&bytes) else {
            return Memo::default();
        };
        if stored.rules != RULES {
            return Memo::default();
        }
        let entries = stored
            .entries
            .into_iter()
            .map(|entry| (entry.key, entry))
            .collect();
        Memo { entries }
    }

    /// Remembers in `dir` what the webhooks of `config`, a file without problems,
    /// checked to: those whose entry the scan finds where the parser read it. Nothing is
    /// written for a small file, or one whose entries were all remembered already.
    pub fn write(dir: &Path, config: &Config) -> std::io::Result<()> {
        if !Memo::wanted(config) {
            return Ok(());
        }
        let Some(split) = Split::of(&config.text) else {
            return Ok(());
        };
        if split.items.len() != config.webhooks.len() {
            return Ok(());
        }
        let entries = split
            .items
            .iter()
            .zip(&config.webhooks)
            .filter_map(|(item, webhook)| item.entry(&config.text, webhook))
            .collect();
        let stored = Stored {
            rules: RULES.to_owned(),
            entries,
        };
        let bytes = serde_json::to_vec(&stored).expect("a memo serializes");
        write_private(&dir.join(FILE), &bytes)
    }

    /// Whether [`Memo::write`] would write anything for `config`.
    pub fn wanted(config: &Config) -> bool {
        config.text.len() >= super::PARALLEL_FROM && config.remembered < config.webhooks.len()
    }

    /// How many entries it remembers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `bytes` written to a file beside `path`, then renamed over it: a reader sees the old
/// file or the new one.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    static WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let partial = path.with_extension(format!("partial-{}-{n}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .and_then(|mut file| file.write_all(bytes))
        .and_then(|()| std::fs::rename(&partial, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// The entries of `webhooks:` as a scan of the lines finds them.
#[derive(Debug)]
struct Split {
    /// Where `webhooks:` ends on its line, and that line (from 1).
    header: (usize, usize),
    /// The indentation of the items' `- `.
    indent: usize,
    items: Vec<Item>,
}

/// One entry: from its `- ` line to the next one, or to the end of the list.
#[derive(Debug)]
struct Item {
    bytes: Range<usize>,
    /// Its first line (from 1), and how many it has.
    line: usize,
    lines: usize,
    /// Whether it holds an anchor, an alias or a tag, whose meaning is not its own.
    linked: bool,
}

impl Split {
    /// The entries of `text`'s top-level `webhooks:` list, written in block style with
    /// each item's `- ` at one indentation and its other lines deeper; `None` for any
    /// other form, or a line break this scan does not count as the parser does.
    fn of(text: &str) -> Option<Split> {
        if lift::has_lone_cr(text) {
            return None;
        }
        let bytes = text.as_bytes();
        let mut lines = text.split_inclusive('\n').zip(1..);
        let mut offset = 0;
        let header = loop {
            let (line, number) = lines.next()?;
            let start = offset;
            offset += line.len();
            if body(line).trim_end_matches(' ') == "webhooks:" {
                break (start + "webhooks:".len(), number);
            }
        };
        let mut items: Vec<Item> = Vec::new();
        let mut indent = None;
        for (line, number) in lines {
            let content = body(line);
            let rest = content.trim_start_matches(' ');
            let spaces = content.len() - rest.len();
            if rest.starts_with('\t') {
                return None;
            }
            if !(rest.is_empty() || rest.starts_with('#')) {
                if spaces == 0 {
                    break;
                }
                let indent = *indent.get_or_insert(spaces);
                if spaces == indent && rest.starts_with("- ") {
                    items.push(Item {
                        bytes: offset..offset,
                        line: number,
                        lines: 0,
                        linked: false,
                    });
                } else if spaces < indent + 2 {
                    return None;
                }
            }
            if let Some(item) = items.last_mut() {
                item.bytes.end = offset + line.len();
                item.lines += 1;
            } else if !(rest.is_empty() || rest.starts_with('#')) {
                return None;
            }
            offset += line.len();
        }
        for item in &mut items {
            item.linked = memchr::memchr3(b'&', b'*', b'!', &bytes[item.bytes.clone()]).is_some();
        }
        let indent = indent?;
        (!items.is_empty()).then_some(Split {
            header,
            indent,
            items,
        })
    }
}

impl Item {
    fn text<'t>(&self, text: &'t str) -> &'t str {
        &text[self.bytes.clone()]
    }

    /// The SHA-256 of its text, unless it is linked to the rest of the file.
    fn key(&self, text: &str) -> Option<[u8; 32]> {
        (!self.linked).then(|| Sha256::digest(self.text(text).as_bytes()).into())
    }

    /// What to remember of `webhook`, read from this item of `text`: nothing unless the
    /// parser read it here, with its URL's ciphertext as its one armored block.
    fn entry(&self, text: &str, webhook: &Webhook) -> Option<Entry> {
        let key = self.key(text)?;
        let place = |at: Position| {
            (self.line..self.line + self.lines)
                .contains(&at.line)
                .then_some((at.line - self.line, at.column))
        };
        let block = block(self.text(text))?;
        if unindented(self.text(text), block).as_deref() != Some(webhook.url.armored.as_str()) {
            return None;
        }
        let mentions = webhook
            .mentions
            .iter()
            .map(|m| Some((m.text.clone(), place(m.at)?)))
            .collect::<Option<_>>()?;
        Some(Entry {
            key,
            id: webhook.id.clone(),
            name: webhook.name.clone(),
            channel: webhook.channel.clone(),
            mentions,
            at: place(webhook.at)?,
            url: (webhook.url.digest.clone(), place(webhook.url.at)?, block),
        })
    }

    /// The webhook `entry` remembers of this item of `text`, the `index`th of the list.
    /// `None` for an entry no memo this build writes holds (a damaged file).
    fn webhook(&self, text: &str, entry: Entry, index: usize) -> Option<Webhook> {
        let at = |(lines, column): Place| {
            (lines < self.lines).then(|| Position {
                line: self.line + lines,
                column,
            })
        };
        let Entry {
            id,
            name,
            channel,
            mentions,
            at: place,
            url: (digest, url_place, block),
            ..
        } = entry;
        unhex(digest.strip_prefix("sha256:")?)?;
        Some(Webhook {
            id,
            name,
            channel,
            url: Sealed {
                armored: unindented(self.text(text), block)?,
                digest,
                field: format!("webhooks[{index}].url"),
                at: at(url_place)?,
            },
            mentions: mentions
                .into_iter()
                .map(|(text, place)| Some(Mention { text, at: at(place)? }))
                .collect::<Option<_>>()?,
            at: at(place)?,
        })
    }

    /// At most how many nodes a valid entry remembered as `entry` has, and the bytes of
    /// their paths, for the file's limits: its mapping, five keys and their values (the
    /// URL a mapping of one key), its mentions.
    fn bounds(entry: &Entry) -> (usize, usize) {
        const PATH: usize = 64;
        let nodes = 14 + entry.mentions.len();
        (nodes, nodes * PATH)
    }
}

/// Where the one armored block of an entry's `text` is; `None` for none or more.
fn block(text: &str) -> Option<Block> {
    let begin = text.find(BEGIN)?;
    let end = begin + text[begin..].find(END)? + END.len();
    if text[end..].contains(BEGIN) {
        return None;
    }
    let start = text[..begin].rfind('\n').map_or(0, |i| i + 1);
    let end = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
    Some((start, end, begin - start))
}

/// The lines of `block` in `text` without their indentation, each ending in a newline:
/// the literal scalar as the parser reads it, when the block is written so.
fn unindented(text: &str, (start, end, indent): Block) -> Option<String> {
    let lines = text.get(start..end)?;
    let mut out = String::with_capacity(lines.len());
    for line in lines.split_inclusive('\n') {
        out.push_str(body(line).get(indent..)?);
        out.push('\n');
    }
    Some(out)
}

/// `text` checked with the entries `memo` remembers taken from it, as [`checked_among`]
/// would check the whole file; `None` when that cannot be shown, for the file to be read
/// as it is.
pub(super) fn checked(file: &str, text: &str, mut memo: Memo) -> Option<Checked> {
    // An alias's expansion is counted on the text as it is.
    if memo.is_empty() || text.contains('*') {
        return None;
    }
    let split = Split::of(text)?;
    let keys = super::parallel_map(&split.items, |item| item.key(text));
    // Taken out of the memo, for the webhooks to own what it read; a second entry of the
    // same text is read again.
    let found: Vec<Option<Entry>> = keys
        .iter()
        .map(|key| key.as_ref().and_then(|key| memo.entries.remove(key)))
        .collect();
    let remembered = found.iter().flatten().count();
    if remembered == 0 {
        return None;
    }
    // The file with each remembered entry's lines left empty; with none left, the list
    // written empty on the line of its key.
    let mut light =
        String::with_capacity(text.len() - split.items.iter().map(|i| i.bytes.len()).sum::<usize>() / 2);
    let mut copied = 0;
    if remembered == split.items.len() {
        light.push_str(&text[..split.header.0]);
        light.push_str(" []");
        copied = split.header.0;
    }
    for (item, entry) in split.items.iter().zip(&found) {
        if entry.is_some() {
            light.push_str(&text[copied..item.bytes.start]);
            // A comment where the `- ` was ends a block scalar before as that line did
            // (one that keeps its trailing lines, `|+`, would take empty ones).
            light.extend(std::iter::repeat_n(' ', split.indent));
            light.push('#');
            light.extend(std::iter::repeat_n('\n', item.lines));
            copied = item.bytes.end;
        }
    }
    light.push_str(&text[copied..]);

    // The file's limits count every node and path: the remembered entries' at most.
    let (mut nodes, mut path_bytes) = (0, 0);
    let mut ids = Vec::with_capacity(remembered);
    let mut webhooks: Vec<Option<Webhook>> = Vec::with_capacity(split.items.len());
    for (index, (item, entry)) in split.items.iter().zip(found).enumerate() {
        let webhook = match entry {
            Some(entry) => {
                let (entry_nodes, entry_path_bytes) = Item::bounds(&entry);
                nodes += entry_nodes;
                path_bytes += entry_path_bytes;
                let webhook = item.webhook(text, entry, index)?;
                ids.push((webhook.id.clone(), webhook.at));
                Some(webhook)
            }
            None => None,
        };
        webhooks.push(webhook);
    }
    let read = tree::read(&light).ok()?;
    let (nodes, path_bytes) = (nodes + read.nodes, path_bytes + read.path_bytes);
    if nodes as u64 > bounds::MAX_NODES || path_bytes > bounds::MAX_PATH_BYTES {
        return None;
    }
    let (checked, list) = checked_among(file, &light, Ok(read), &ids);
    let mut config = checked.config.filter(|_| checked.problems.is_empty())?;
    let read = config.webhooks.len();
    if list
        != (Position {
            line: split.header.1,
            column: 1,
        })
        || read != split.items.len() - remembered
    {
        return None;
    }
    // Each entry read again must be where the scan found it.
    let mut fresh = std::mem::take(&mut config.webhooks).into_iter();
    for (index, (item, slot)) in split.items.iter().zip(&mut webhooks).enumerate() {
        if slot.is_none() {
            let mut webhook = fresh.next()?;
            if !(item.line..item.line + item.lines).contains(&webhook.at.line) {
                return None;
            }
            webhook.url.field = format!("webhooks[{index}].url");
            *slot = Some(webhook);
        }
    }
    config.webhooks = webhooks.into_iter().collect::<Option<_>>()?;
    config.remembered = remembered;
    Some(Checked {
        file: file.to_owned(),
        config: Some(config),
        unplaced: Vec::new(),
        problems: Vec::new(),
    })
}

/// A key as the memo writes it: 64 lower-case hex digits.
mod hex_key {
    use serde::de::{self, Deserializer, Unexpected, Visitor};
    use serde::ser::Serializer;

    pub fn serialize<S: Serializer>(key: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&crate::secrets::hex(key))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        deserializer.deserialize_str(Hex)
    }

    struct Hex;

    impl Visitor<'_> for Hex {
        type Value = [u8; 32];

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("64 lower-case hex digits")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<[u8; 32], E> {
            super::unhex(text).ok_or_else(|| E::invalid_value(Unexpected::Str(text), &self))
        }
    }
}

/// The 32 bytes that `text`, 64 lower-case hex digits, writes; `None` for anything else.
fn unhex(text: &str) -> Option<[u8; 32]> {
    let digit = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        _ => None,
    };
    let mut out = [0; 32];
    if text.len() != 64 {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}
