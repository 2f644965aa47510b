//! Limits on the desired-state file, checked before any tree is built: its size, its
//! encoding, how deep it nests and how many nodes its aliases expand to. Whatever its
//! size or shape, a file costs a bounded time and memory to refuse, in the CLI, the
//! daemon's watcher and the files sent to the daemon alike.
//!
//! The counts are kept during the one read of the file ([`super::tree`]), event by event,
//! before any node is built from the event that crosses a limit. A file with aliases is
//! counted whole first ([`check`]), so that no alias is expanded before the expansion
//! of every one is known to be within the limits.

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScanError};

use super::problem::{Position, Problem};

/// The largest file read: a desired state of 10,000 webhooks is about 7.5 MB.
pub const MAX_FILE_BYTES: usize = 32 * 1024 * 1024;
/// How deep mappings and sequences may nest; the file needs 5 levels.
pub const MAX_DEPTH: usize = 64;
/// How many nodes the document may hold once its aliases are expanded.
pub const MAX_NODES: u64 = 2_000_000;
/// How many bytes of scalars the document may hold once its aliases are expanded: an
/// alias of a long string costs its length, not one node.
pub const MAX_EXPANDED_BYTES: u64 = 64 * 1024 * 1024;

/// `bytes` as text, or where the first byte that is not UTF-8 is.
pub fn text(bytes: Vec<u8>) -> Result<String, Problem> {
    String::from_utf8(bytes).map_err(|error| {
        let bytes = error.as_bytes();
        let at = error.utf8_error().valid_up_to();
        let before = String::from_utf8_lossy(&bytes[..at]);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Problem::new(
            "invalid-utf8",
            Position { line, column },
            format!(
                "the file is not UTF-8: byte 0x{:02x} cannot start a character here",
                bytes[at]
            ),
        )
        .help("save the file as UTF-8 (YAML requires it); `iconv -t UTF-8` converts it")
    })
}

/// Depth, alias expansion and syntax of `text`, counted without building anything.
/// Returns the anchors that an alias refers to.
pub fn check(text: &str) -> Result<HashSet<usize>, Problem> {
    check_size(text)?;
    let mut aliased = HashSet::new();
    for event in events(text) {
        if let (Event::Alias(anchor), _) = event? {
            aliased.insert(anchor);
        }
    }
    Ok(aliased)
}

/// saphyr's events of `text`, each with where it starts, counted against the limits:
/// the first syntax error or crossed limit ends them.
pub fn events(text: &str) -> impl Iterator<Item = Result<(Event<'_>, Position), Problem>> {
    let mut limits = Limits::default();
    Parser::new_from_str(text).map(move |event| {
        let (event, span) = event.map_err(|error| syntax(&error))?;
        let at = Position {
            line: span.start.line(),
            column: span.start.col() + 1,
        };
        limits.event(&event, at)?;
        Ok((event, at))
    })
}

/// How many bytes the paths of a file's nodes may take in all (`webhooks[2].url`, one
/// per node): long keys under many nodes cost their length again for each.
pub const MAX_PATH_BYTES: usize = 64 * 1024 * 1024;

/// The paths of the nodes read so far take more than [`MAX_PATH_BYTES`].
pub fn paths_too_long(at: Position) -> Problem {
    Problem::new(
        "keys-too-long",
        at,
        format!(
            "the keys down to here make the paths of the file's values longer than {} MiB in all",
            MAX_PATH_BYTES / (1024 * 1024)
        ),
    )
    .help("use short keys: the desired state's keys are a few characters each")
}

/// Depth and alias expansion, counted event by event ([`events`]): a file beyond them
/// goes no further, since what follows could cost more on it.
#[derive(Debug, Default)]
struct Limits {
    depth: usize,
    nodes: u64,
    bytes: u64,
    /// Open collections: their anchor, and the node and byte counts when they started.
    open: Vec<(usize, u64, u64)>,
    /// Each anchor's size, expanded: nodes and bytes.
    sizes: HashMap<usize, (u64, u64)>,
}

impl Limits {
    /// Counts `event`, which starts `at`; fails where the file crosses a limit.
    fn event(&mut self, event: &Event<'_>, at: Position) -> Result<(), Problem> {
        match event {
            Event::Scalar(value, _, anchor, _) => {
                self.nodes += 1;
                self.bytes += value.len() as u64;
                if *anchor > 0 {
                    self.sizes.insert(*anchor, (1, value.len() as u64));
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.open.push((*anchor, self.nodes, self.bytes));
                self.nodes += 1;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(too_deep(at));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, start, start_bytes)) = self.open.pop()
                    && anchor > 0
                {
                    self.sizes
                        .insert(anchor, (self.nodes - start, self.bytes - start_bytes));
                }
                self.depth = self.depth.saturating_sub(1);
            }
            Event::Alias(anchor) => {
                let (n, b) = self.sizes.get(anchor).copied().unwrap_or((1, 0));
                self.nodes += n;
                self.bytes += b;
            }
            _ => {}
        }
        if self.nodes > MAX_NODES || self.bytes > MAX_EXPANDED_BYTES {
            return Err(too_many_nodes(at));
        }
        Ok(())
    }
}

/// Whether `text` is within [`MAX_FILE_BYTES`].
pub fn check_size(text: &str) -> Result<(), Problem> {
    check_len(text.len())
}

/// Whether `len` bytes are within [`MAX_FILE_BYTES`].
pub fn check_len(len: usize) -> Result<(), Problem> {
    if len > MAX_FILE_BYTES {
        return Err(too_large(len));
    }
    Ok(())
}

/// A syntax error of saphyr's parser as a problem at its position.
fn syntax(error: &ScanError) -> Problem {
    let at = Position {
        line: error.marker().line(),
        column: error.marker().col() + 1,
    };
    // The scanner's own bound on nesting, met before an event says how deep it is.
    if error.info().contains("recursion limit") {
        return too_deep(at);
    }
    Problem::new("yaml-syntax", at, format!("invalid YAML: {}", error.info()))
        .help("fix the YAML syntax at this position (indentation, quotes, `key: value`)")
}

fn too_large(bytes: usize) -> Problem {
    Problem::new(
        "file-too-large",
        Position { line: 1, column: 1 },
        format!(
            "the file is larger than {} MiB ({bytes} bytes read), the most that is read",
            MAX_FILE_BYTES / (1024 * 1024)
        ),
    )
    .help("a desired state of 10,000 webhooks is about 7.5 MB; check that this is the right file")
}

fn too_deep(at: Position) -> Problem {
    Problem::new(
        "too-deep",
        at,
        format!("the file nests more than {MAX_DEPTH} levels deep here"),
    )
    .help("the desired state needs a few levels; see examples/hookwarden.yaml for its shape")
}

fn too_many_nodes(at: Position) -> Problem {
    Problem::new(
        "alias-expansion",
        at,
        format!(
            "aliases here expand the file to more than {MAX_NODES} nodes or {} MiB",
            MAX_EXPANDED_BYTES / (1024 * 1024)
        ),
    )
    .help("write the values out, or use fewer aliases of large anchors")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways the limits are checked: alone, and as the file is read.
    fn check(text: &str) -> Result<(), Problem> {
        let alone = super::check(text).map(drop);
        let read = super::super::tree::read(text).map(drop);
        assert_eq!(alone, read, "{text:?}");
        alone
    }

    #[test]
    fn an_alias_bomb_is_refused_at_the_alias_that_crosses_the_limit() {
        let mut text = String::from("version: 1\nx0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9]\n");
        for i in 1..10 {
            let prev = i - 1;
            let refs = vec![format!("*a{prev}"); 9].join(", ");
            text.push_str(&format!("x{i}: &a{i} [{refs}]\n"));
        }
        let problem = check(&text).expect_err("refused");
        assert_eq!(problem.code, "alias-expansion");
        assert!(problem.at.line >= 8, "{:?}", problem.at);
    }

    #[test]
    fn deep_nesting_is_refused_where_it_crosses_the_limit() {
        let text = format!(
            "version: 1\nwebhooks:\n  - channel: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let problem = check(&text).expect_err("refused");
        assert_eq!(problem.code, "too-deep");
        assert_eq!(problem.at.line, 3);
        let shallow = format!(
            "version: 1\nwebhooks:\n  - channel: {}{}\n",
            "[".repeat(100),
            "]".repeat(100)
        );
        let problem = check(&shallow).expect_err("refused");
        assert_eq!(problem.code, "too-deep");
        assert_eq!(
            problem.at,
            Position { line: 3, column: 75 },
            "the bracket that crosses the limit"
        );
    }

    #[test]
    fn aliases_of_a_long_string_are_counted_by_their_bytes() {
        let long = "x".repeat(1024 * 1024);
        let aliases = vec!["*s"; 100].join(", ");
        let text = format!("version: 1\nrecipients: [&s \"{long}\", {aliases}]\n");
        let problem = check(&text).expect_err("refused");
        assert_eq!(problem.code, "alias-expansion");
    }

    #[test]
    fn a_normal_file_with_anchors_passes() {
        let text = "version: 1\nm: &m [\"@oncall\", here]\nwebhooks:\n  - name: A\n    mentions: *m\n  - name: B\n    mentions: *m\n";
        assert!(check(text).is_ok());
    }

    #[test]
    fn invalid_utf8_is_positioned() {
        let problem = text(b"version: 1\nwebhooks: \xff\n".to_vec()).expect_err("not UTF-8");
        assert_eq!(problem.code, "invalid-utf8");
        assert_eq!(problem.at, Position { line: 2, column: 11 });
        assert!(problem.message.contains("0xff"), "{}", problem.message);
    }
}
