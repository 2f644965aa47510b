//! The one read of the file's YAML: a single pass of saphyr's event parser checks the
//! limits ([`bounds`]), builds the document as serde_yaml's `Value` and indexes where
//! every node starts ([`Positions`]). A large file is read with its armored blocks
//! lifted out ([`lift`]), and again as it is should they not all be given back.
//!
//! Plain scalars are resolved as serde_yaml resolves them (YAML 1.2's core schema:
//! `null` and `~`, `true`/`false` in three spellings, integers in four bases, floats), so
//! the raw types read the same values as they would from serde_yaml. A document with a
//! tag (`!!str 1`) is left to serde_yaml, which knows what each tag means; its
//! positions still come from here.

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, ScalarStyle};
use serde_yaml::{Mapping, Value};

use super::bounds;
use super::lift::{self, Lifted};
use super::positions::{self, Positions};
use super::problem::{Position, Problem};
use super::shape::{NOT_SHOWN, key_name};
use crate::secrets::plain_name;

/// What one read of a file gives.
#[derive(Debug)]
pub struct Read {
    pub positions: Positions,
    /// The document; `None` when it holds a tag, for serde_yaml to read.
    pub document: Option<Value>,
    /// How many nodes it has (aliases counted once), and the bytes of their paths: what
    /// the file's limits count, for a text read without some of its entries (`memo`).
    pub nodes: usize,
    pub path_bytes: usize,
}

/// Reads `text`: its limits, its values and their positions, or the first problem
/// that stops the read (syntax, limits, a second document, a duplicate key).
pub fn read(text: &str) -> Result<Read, Problem> {
    // The size is the file's, not the lighter text's.
    bounds::check_size(text)?;
    // With its armored blocks lifted out, a large file reads in a fraction of the time;
    // an alias's expansion is counted on the text as it is, so not where there may be one.
    if text.len() >= lift::FROM
        && !text.contains('*')
        && let Some(mut lifted) = Lifted::of(text)
    {
        let light = std::mem::take(&mut lifted.text);
        if let Ok(read) = read_events(&light, text.len(), Some(&mut lifted))
            && lifted.complete()
        {
            return Ok(read);
        }
    }
    read_events(text, text.len(), None)
}

/// [`read`] of `text`, the lighter text of `lifted` when there is one, of a file of
/// `bytes` (whose size [`read`] checked).
fn read_events(text: &str, bytes: usize, mut lifted: Option<&mut Lifted>) -> Result<Read, Problem> {
    // Expanding an alias costs its anchor's size: where there may be one, the whole
    // file is counted before anything is built, and only the anchors that an alias
    // refers to are kept.
    let aliased = if text.contains('*') {
        bounds::check(text)?
    } else {
        HashSet::new()
    };
    let mut builder = Builder {
        aliased,
        positions: Positions::for_text(bytes),
        ..Builder::default()
    };
    let mut documents = 0;
    let mut nodes = 0;
    for event in bounds::events(text) {
        let (event, at) = event?;
        nodes += usize::from(matches!(
            event,
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..) | Event::Alias(_)
        ));
        match event {
            Event::DocumentStart(_) => documents += 1,
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..) | Event::Alias(_)
                if documents > 1 =>
            {
                return Err(
                    Problem::new("yaml-syntax", at, "the file holds more than one YAML document")
                        .help("keep one document per file: remove the `---` separator and what follows"),
                );
            }
            Event::Scalar(value, style, anchor, tag) => {
                builder.tagged |= tag.is_some();
                // A tagged document's values are serde_yaml's: this one only places them.
                let value = if style == ScalarStyle::Plain && !builder.tagged {
                    resolve(value).ok_or_else(|| out_of_range(at))?
                } else {
                    let mut text = match lifted.as_deref_mut() {
                        Some(lifted) => lifted.take(value, style, at),
                        None => value.into_owned(),
                    };
                    // saphyr grows a block scalar's string a character at a time: a
                    // ciphertext's 600 bytes would hold 1 KiB until the plan ends.
                    text.shrink_to_fit();
                    Value::String(text)
                };
                let node = builder.open(at, anchor);
                builder.close(&node, value)?;
            }
            Event::SequenceStart(anchor, tag) => {
                builder.tagged |= tag.is_some();
                builder.start(at, anchor, Children::Sequence(Vec::new()));
            }
            Event::MappingStart(anchor, tag) => {
                builder.tagged |= tag.is_some();
                builder.start(at, anchor, Children::Mapping(Mapping::new(), None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let mut node = builder.stack.pop().expect("the parser balances collections");
                let value = match node.children.take() {
                    Some(Children::Sequence(items)) => Value::Sequence(items),
                    Some(Children::Mapping(mapping, _)) => Value::Mapping(mapping),
                    None => unreachable!("a collection node has children"),
                };
                builder.close(&node, value)?;
            }
            Event::Alias(anchor) => builder.alias(at, anchor)?,
            _ => {}
        }
    }
    let document = (!builder.tagged).then(|| builder.root.unwrap_or(Value::Null));
    Ok(Read {
        positions: builder.positions,
        document,
        nodes,
        path_bytes: builder.path_bytes,
    })
}

/// A node being read: where it goes, and its children so far for a collection.
struct Open {
    /// Its path (`webhooks[2].url`) is `Builder::path[..end]` and its parent's
    /// `[..start]`, as `(start, end)`; `None` inside a mapping's key, which is not indexed.
    path: Option<(usize, usize)>,
    /// Where its key starts, for a mapping's value.
    key: Option<Position>,
    at: Position,
    anchor: usize,
    /// How many positions were indexed when it started: those after are its own.
    indexed_from: usize,
    children: Option<Children>,
}

enum Children {
    Sequence(Vec<Value>),
    /// The entries so far, and the key read whose value comes next, with its position.
    Mapping(Mapping, Option<(Value, Position)>),
}

/// An anchored node: its value and its positions, by path below it.
struct Anchored {
    value: Value,
    positions: Vec<(String, Option<Position>, Position)>,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    /// The path of the node being read, each open node's a prefix of it.
    path: String,
    root: Option<Value>,
    positions: Positions,
    /// The positions indexed inside the anchored nodes being read, in order: (path,
    /// key, value); an alias of one gets them under its own path.
    indexed: Vec<(String, Option<Position>, Position)>,
    /// How many anchored nodes are being read.
    anchored: usize,
    anchors: HashMap<usize, Anchored>,
    /// The anchors an alias refers to: the only ones kept.
    aliased: HashSet<usize>,
    tagged: bool,
    /// The bytes of the paths indexed so far.
    path_bytes: usize,
}

impl Builder {
    /// A node starting `at`, placed by its parent.
    fn open(&mut self, at: Position, anchor: usize) -> Open {
        let (path, key) = match self.stack.last() {
            None => {
                self.path.clear();
                (Some((0, 0)), None)
            }
            Some(parent) => match (parent.path, &parent.children) {
                (Some((_, end)), Some(Children::Sequence(items))) => {
                    self.path.truncate(end);
                    positions::push_item(&mut self.path, items.len());
                    (Some((end, self.path.len())), None)
                }
                (Some((_, end)), Some(Children::Mapping(_, Some((key, key_at))))) => {
                    self.path.truncate(end);
                    positions::push_child(&mut self.path, &key_name(key));
                    (Some((end, self.path.len())), Some(*key_at))
                }
                // Inside a mapping's key, or the key itself.
                _ => (None, None),
            },
        };
        let anchor = if self.aliased.contains(&anchor) { anchor } else { 0 };
        self.anchored += usize::from(anchor > 0);
        Open {
            path,
            key,
            at,
            anchor,
            indexed_from: self.indexed.len(),
            children: None,
        }
    }

    /// A collection starting `at`.
    fn start(&mut self, at: Position, anchor: usize, children: Children) {
        let mut node = self.open(at, anchor);
        node.children = Some(children);
        self.stack.push(node);
    }

    /// `node`, read whole as `value`: indexed, kept if anchored, and given to its parent.
    fn close(&mut self, node: &Open, value: Value) -> Result<(), Problem> {
        if let Some((start, end)) = node.path {
            self.index_own(end, node.key, node.at)?;
            self.path.truncate(start);
        }
        if node.anchor > 0 {
            let positions = match node.path {
                Some((_, len)) => self.indexed[node.indexed_from..]
                    .iter()
                    .map(|(p, k, v)| (p[len..].to_owned(), *k, *v))
                    .collect(),
                None => Vec::new(),
            };
            self.anchors.insert(
                node.anchor,
                Anchored {
                    value: value.clone(),
                    positions,
                },
            );
            self.anchored -= 1;
            if self.anchored == 0 {
                self.indexed.clear();
            }
        }
        self.attach(value, node.at)
    }

    /// An alias `at`: the anchored value again, with the anchor's positions under the
    /// alias's path (as if it were written out there).
    fn alias(&mut self, at: Position, anchor: usize) -> Result<(), Problem> {
        let node = self.open(at, 0);
        let Some(anchored) = self.anchors.get(&anchor) else {
            // saphyr refuses an unknown alias before it says so; in case it did not.
            return Err(
                Problem::new("yaml-syntax", at, "invalid YAML: an alias of an unknown anchor")
                    .help("define the anchor (`&name`) before its alias (`*name`)"),
            );
        };
        let value = anchored.value.clone();
        if let Some((start, end)) = node.path {
            let path = &self.path[..end];
            let moved: Vec<_> = anchored
                .positions
                .iter()
                .map(|(suffix, key, value)| {
                    let key = if suffix.is_empty() { node.key } else { *key };
                    (format!("{path}{suffix}"), key, *value)
                })
                .collect();
            // The alias's own place first: an anchor inside a key has no positions.
            self.index_own(end, node.key, at)?;
            for (path, key, value) in moved {
                self.index(&path, key, value)?;
            }
            self.path.truncate(start);
        }
        self.attach(value, at)
    }

    /// Indexes the node whose path is `self.path[..end]`.
    fn index_own(&mut self, end: usize, key: Option<Position>, value: Position) -> Result<(), Problem> {
        let path = std::mem::take(&mut self.path);
        let indexed = self.index(&path[..end], key, value);
        self.path = path;
        indexed
    }

    fn index(&mut self, path: &str, key: Option<Position>, value: Position) -> Result<(), Problem> {
        self.path_bytes += path.len();
        if self.path_bytes > bounds::MAX_PATH_BYTES {
            return Err(bounds::paths_too_long(value));
        }
        if self.anchored > 0 {
            self.indexed.push((path.to_owned(), key, value));
        }
        self.positions.insert(path, key, value);
        Ok(())
    }

    /// Gives `value`, starting `at`, to the open collection, or makes it the root.
    fn attach(&mut self, value: Value, at: Position) -> Result<(), Problem> {
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(value);
            return Ok(());
        };
        match &mut parent.children {
            Some(Children::Sequence(items)) => items.push(value),
            Some(Children::Mapping(mapping, pending)) => match pending.take() {
                None => *pending = Some((value, at)),
                Some((key, key_at)) => match mapping.entry(key) {
                    // A tagged document's keys are serde_yaml's to judge.
                    serde_yaml::mapping::Entry::Occupied(mut entry) if self.tagged => {
                        entry.insert(value);
                    }
                    serde_yaml::mapping::Entry::Occupied(entry) => {
                        return Err(duplicate(entry.key(), key_at));
                    }
                    serde_yaml::mapping::Entry::Vacant(entry) => {
                        entry.insert(value);
                    }
                },
            },
            None => unreachable!("only collections are open"),
        }
        Ok(())
    }
}

fn duplicate(key: &Value, at: Position) -> Problem {
    let which = match key {
        Value::String(s) if plain_name(s) => format!("with key {s:?}"),
        Value::String(_) => format!("with a key {NOT_SHOWN}"),
        Value::Null => "with null key".to_owned(),
        Value::Bool(b) => format!("with key `{b}`"),
        Value::Number(n) => format!("with key {n}"),
        _ => "in YAML map".to_owned(),
    };
    Problem::new(
        "yaml-syntax",
        at,
        format!("invalid YAML: duplicate entry {which}"),
    )
    .help("a key appears once in each mapping: remove or rename one of the two")
}

fn out_of_range(at: Position) -> Problem {
    Problem::new(
        "yaml-syntax",
        at,
        "invalid YAML: an integer out of range (more than 64 bits)",
    )
    .help("write a smaller number, or quote it to make it a string")
}

/// A plain scalar's value, as serde_yaml resolves it; `None` for an integer wider than
/// 64 bits, which serde_yaml refuses.
fn resolve(text: std::borrow::Cow<'_, str>) -> Option<Value> {
    let scalar = text.as_ref();
    match scalar {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    // Most scalars are words: nothing below reads a scalar that starts with a letter
    // as anything but a string (`inf` and `nan` are not floats in YAML).
    if scalar.starts_with(|c: char| c.is_alphabetic() || c == '_') {
        return Some(Value::String(text.into_owned()));
    }
    if let Some(int) = unsigned(scalar, u64::from_str_radix) {
        return Some(Value::Number(int.into()));
    }
    if let Some(int) = negative(scalar, i64::from_str_radix) {
        return Some(Value::Number(int.into()));
    }
    if unsigned(scalar, u128::from_str_radix).is_some() || negative(scalar, i128::from_str_radix).is_some() {
        return None;
    }
    if !digits_but_not_number(scalar)
        && let Some(float) = float(scalar)
    {
        return Some(Value::Number(float.into()));
    }
    Some(Value::String(text.into_owned()))
}

type Radix<T> = fn(&str, u32) -> Result<T, std::num::ParseIntError>;

/// `0x`, `0o`, `0b` or decimal, with an optional `+`.
fn unsigned<T>(scalar: &str, parse: Radix<T>) -> Option<T> {
    let unsigned = scalar.strip_prefix('+').unwrap_or(scalar);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unsigned.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(int) = parse(rest, radix) {
                return Some(int);
            }
        }
    }
    if unsigned.starts_with(['+', '-']) || digits_but_not_number(scalar) {
        return None;
    }
    parse(unsigned, 10).ok()
}

/// `-0x`, `-0o`, `-0b` or decimal.
fn negative<T>(scalar: &str, parse: Radix<T>) -> Option<T> {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = scalar.strip_prefix(prefix)
            && let Ok(int) = parse(&format!("-{rest}"), radix)
        {
            return Some(int);
        }
    }
    if digits_but_not_number(scalar) {
        return None;
    }
    parse(scalar, 10).ok()
}

/// Leading zeros followed by digits: a string in YAML 1.2 (`0123`).
fn digits_but_not_number(scalar: &str) -> bool {
    let digits = scalar.strip_prefix(['-', '+']).unwrap_or(scalar);
    digits.len() > 1 && digits.starts_with('0') && digits[1..].bytes().all(|b| b.is_ascii_digit())
}

fn float(scalar: &str) -> Option<f64> {
    let unsigned = match scalar.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => scalar,
    };
    match unsigned {
        ".inf" | ".Inf" | ".INF" => return Some(f64::INFINITY),
        _ => {}
    }
    match scalar {
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    unsigned.parse::<f64>().ok().filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde_yaml's reading of `text`.
    fn serde(text: &str) -> Result<Value, String> {
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn plain_scalars_resolve_as_serde_yaml_resolves_them() {
        let scalars = [
            "",
            "~",
            "null",
            "Null",
            "NULL",
            "nULL",
            "true",
            "True",
            "TRUE",
            "tRUE",
            "false",
            "yes",
            "no",
            "on",
            "off",
            "y",
            "n",
            "1",
            "+1",
            "-1",
            "0",
            "-0",
            "+0",
            "00",
            "0123",
            "-0123",
            "0x1f",
            "0X1f",
            "-0x1f",
            "+0x1f",
            "0x-1",
            "0o17",
            "-0o17",
            "0o8",
            "0b101",
            "-0b101",
            "0b2",
            "1_000",
            "1.5",
            "-1.5",
            "+1.5",
            ".5",
            "5.",
            "1e3",
            "1E3",
            "-1e-3",
            "1e400",
            ".inf",
            ".Inf",
            "-.inf",
            "+.inf",
            ".nan",
            "inf",
            "nan",
            "infinity",
            "NaN",
            "+",
            "-",
            "++1",
            "+-1",
            "--1",
            "1.2.3",
            "12:30",
            "2026-12-04",
            "0.",
            "0.0",
            "18446744073709551615",
            "-9223372036854775808",
            "9223372036854775808",
            "1 2",
            "_x",
            "é",
            "#x",
            "@x",
            "x: y",
            "%x",
        ];
        for scalar in scalars {
            let text = format!("k: {scalar}\n");
            let ours = read(&text)
                .map(|r| r.document.expect("untagged"))
                .map_err(|p| p.message);
            let theirs = serde(&text);
            match (&ours, &theirs) {
                (Ok(ours), Ok(theirs)) => {
                    // NaN is not equal to itself.
                    let nan = |v: &Value| v["k"].as_f64().is_some_and(f64::is_nan);
                    assert!(
                        ours == theirs || (nan(ours) && nan(theirs)),
                        "{scalar:?}: {ours:?} against {theirs:?}"
                    );
                }
                (Err(_), Err(_)) => {}
                _ => panic!("{scalar:?}: {ours:?} against {theirs:?}"),
            }
        }
    }

    #[test]
    fn collections_aliases_and_quoting_read_as_serde_yaml_reads_them() {
        let texts = [
            "version: 1\nwebhooks:\n  - id: a\n    name: \"A\"\n    url:\n      age: |\n        x\n        y\n",
            "a: &x [1, {b: 'c'}]\nd: *x\ne: {? [1, 2] : 3}\n",
            "m: &m {x: 1}\nn:\n  <<: *m\n  y: 2\n",
            "s: >\n  folded\n  text\n\nt: |-\n  kept\n",
            "- 1\n- [2, 3]\n- k: v\n",
            "",
            "# only a comment\n",
            "'1': one\n1: two\n",
        ];
        for text in texts {
            let ours = read(text).expect("reads").document.expect("untagged");
            assert_eq!(ours, serde(text).expect("serde_yaml reads it"), "{text:?}");
        }
    }

    #[test]
    fn a_tagged_document_is_left_to_serde_yaml() {
        let read = read("k: !!str 1\n").expect("reads");
        assert!(read.document.is_none());
        assert_eq!(read.positions.value("k"), Position { line: 1, column: 4 });
    }

    #[test]
    fn duplicate_keys_are_refused_where_the_second_is() {
        let problem = read("a: 1\nb: 2\na: 3\n").expect_err("duplicate");
        assert_eq!(
            (problem.code, problem.at),
            ("yaml-syntax", Position { line: 3, column: 1 })
        );
        assert_eq!(problem.message, "invalid YAML: duplicate entry with key \"a\"");
        assert!(serde("a: 1\nb: 2\na: 3\n").is_err(), "as serde_yaml does");
        let secret = read("xoxb-1-2: 1\nxoxb-1-2: 2\n").expect_err("duplicate");
        assert!(!secret.message.contains("xoxb"), "{}", secret.message);
    }

    #[test]
    fn an_alias_has_its_anchors_positions_under_its_own_path() {
        let text = "m: &m\n  x: 1\nn: *m\n";
        let positions = read(text).expect("reads").positions;
        assert_eq!(positions.value("n.x"), Position { line: 2, column: 6 });
        assert_eq!(positions.key("n"), Position { line: 3, column: 1 });
    }

    #[test]
    fn long_keys_under_many_nodes_are_refused_before_their_paths_fill_memory() {
        let key = "k".repeat(1024 * 1024);
        // An explicit key: an implicit one is at most 1024 characters.
        let text = format!("? {key}\n: [{}]\n", vec!["0"; 100].join(", "));
        let problem = read(&text).expect_err("refused");
        assert_eq!(
            (problem.code, problem.at.line),
            ("keys-too-long", 2),
            "{problem:?}"
        );
    }

    #[test]
    fn a_tagged_document_is_judged_by_serde_yaml_not_here() {
        for text in ["k: !!str 99999999999999999999\n", "? !!str 1\n: a\n1: b\n"] {
            let read = read(text).expect("left to serde_yaml");
            assert!(read.document.is_none(), "{text:?}");
            assert!(serde(text).is_ok(), "{text:?}");
        }
    }

    #[test]
    fn an_alias_of_an_anchor_inside_a_key_is_placed_where_it_is() {
        let positions = read("? &k a\n: 1\nb: *k\n").expect("reads").positions;
        assert_eq!(positions.value("b"), Position { line: 3, column: 4 });
    }

    #[test]
    fn a_second_document_is_refused_at_its_start() {
        let problem = read("version: 1\n---\nversion: 1\n").expect_err("two documents");
        assert_eq!(
            (problem.code, problem.at),
            ("yaml-syntax", Position { line: 3, column: 1 })
        );
    }

    /// A file of many webhooks, each URL written as `url` says, padded past the size
    /// from which blocks are lifted.
    fn many(url: impl Fn(usize) -> String) -> String {
        let mut text = String::from("version: 1\nwebhooks:\n");
        let mut i = 0;
        while text.len() < 2 * lift::FROM {
            text.push_str(&format!("  - id: w{i}\n    name: W {i}\n    url:\n{}", url(i)));
            i += 1;
        }
        text
    }

    const BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
    const END: &str = "-----END AGE ENCRYPTED FILE-----";

    fn assert_same_read(text: &str) {
        let (lifted, plain) = (read(text), read_events(text, text.len(), None));
        match (lifted, plain) {
            (Ok(lifted), Ok(plain)) => {
                assert_eq!(lifted.document, plain.document);
                assert_eq!(lifted.positions.entries(), plain.positions.entries());
            }
            (lifted, plain) => assert_eq!(lifted.err(), plain.err()),
        }
    }

    #[test]
    fn a_file_read_with_its_blocks_lifted_reads_as_it_is() {
        let block = |i: usize| {
            format!("      age: |\n        {BEGIN}\n        QUJD{i}\n        REVG\n        {END}\n")
        };
        let text = many(block);
        let mut lifted = Lifted::of(&text).expect("blocks to lift");
        let light = std::mem::take(&mut lifted.text);
        read_events(&light, text.len(), Some(&mut lifted)).expect("reads");
        assert!(lifted.complete(), "every block given back");
        assert_same_read(&text);
        assert_same_read(&text.replace('\n', "\r\n"));
    }

    #[test]
    fn blocks_the_parser_reads_otherwise_are_read_as_they_are() {
        let written: [fn(usize) -> String; 8] = [
            // Folded, kept, stripped, with an indentation indicator: other texts.
            |_| format!("      age: >\n        {BEGIN}\n        QUJD\n        {END}\n"),
            |_| format!("      age: |+\n        {BEGIN}\n        QUJD\n        {END}\n\n"),
            |_| format!("      age: |-\n        {BEGIN}\n        QUJD\n        {END}\n"),
            |_| format!("      age: |2\n        {BEGIN}\n        QUJD\n        {END}\n"),
            // The stand-in written out, a block inside a quoted string, in a comment.
            |_| format!("      age: \"{BEGIN}\\nx\\n{END}\\n\"\n"),
            |_| format!("      age: \"\n        {BEGIN}\n        QUJD\n        {END}\"\n"),
            |_| format!("      # {BEGIN}\n      #  QUJD\n      # {END}\n      age: x\n"),
            // Every other entry a block, the others its stand-in as a literal.
            |i| match i % 2 {
                0 => format!("      age: |\n        {BEGIN}\n        QUJD\n        {END}\n"),
                _ => format!("      age: |\n        {BEGIN}\n        x\n        {END}\n"),
            },
        ];
        for url in written {
            assert_same_read(&many(url));
        }
        // A block whose stand-in is read but not where the block stands.
        let block = format!("      age: |\n        {BEGIN}\n        QUJD\n        {END}\n");
        let shifted = many(|i| {
            if i == 3 {
                "      age: \"".to_owned() + &block[12..].replace("        ", "") + "\"\n"
            } else {
                block.clone()
            }
        });
        assert_same_read(&shifted);
    }

    #[test]
    fn a_file_over_the_size_limit_is_refused_though_its_lighter_text_is_not() {
        let block = |i: usize| {
            format!("      age: |\n        {BEGIN}\n        QUJD{i}\n        REVG\n        {END}\n")
        };
        let one = many(block);
        let entries = &one[one.find("  - id").expect("an entry")..];
        let mut text = one.clone();
        while text.len() <= bounds::MAX_FILE_BYTES {
            text.push_str(entries);
        }
        let expected = bounds::check_size(&text).expect_err("too large");
        let problem = read(&text).expect_err("too large");
        assert_eq!((problem.code, problem.message), (expected.code, expected.message));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever a few edits make of a large file's blocks and what stands around
        /// them, it reads with its blocks lifted as it reads without.
        #[test]
        fn an_edited_file_reads_the_same_lifted_or_not(
            edits in proptest::collection::vec(
                (proptest::prelude::any::<proptest::sample::Index>(), 0..12usize, proptest::bool::ANY),
                1..6,
            )
        ) {
            let block = |i: usize| format!("      age: |\n        {BEGIN}\n        QUJD{i}\n        REVG\n        {END}\n");
            let mut text = many(block).into_bytes();
            for (at, what, insert) in edits {
                let byte = b" \n|>-\"#x:\r\tB"[what];
                let at = at.index(text.len());
                if insert {
                    text.insert(at, byte);
                } else {
                    text[at] = byte;
                }
            }
            let text = String::from_utf8(text).expect("ASCII");
            assert_same_read(&text);
        }
    }
}
