//! Where each node of the desired-state file starts.
//!
//! serde's values carry no positions, so the semantic checks look their positions up
//! here, by the same dotted path (`webhooks[2].url`) that the checks use to name a
//! field. The index is filled by the one read of the file ([`super::tree`]).

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use super::problem::Position;

/// Positions of keys and values by path. The root's path is the empty string.
///
/// The paths are kept end to end in one string, and the table holds where each starts
/// and ends: a file of 10,000 webhooks has some 60,000 nodes, and one allocation for
/// their paths instead of one each.
#[derive(Default)]
pub struct Positions {
    paths: String,
    nodes: HashTable<Entry>,
    hasher: RandomState,
}

/// A node's path (`paths[start..end]`) and where it starts.
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: usize,
    end: usize,
    node: Node,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    key: Option<Position>,
    value: Position,
}

impl std::fmt::Debug for Positions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Positions")
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

impl Positions {
    /// Room for about as many nodes as a file of `bytes` has: a webhook's five or so
    /// nodes take about 150 bytes, its ciphertext most of them.
    pub fn for_text(bytes: usize) -> Self {
        Positions {
            paths: String::with_capacity(bytes / 6),
            nodes: HashTable::with_capacity(bytes / 128),
            hasher: RandomState::new(),
        }
    }

    /// Records that the node at `path` starts at `value`, its key (if any) at `key`.
    pub fn insert(&mut self, path: &str, key: Option<Position>, value: Position) {
        let node = Node { key, value };
        let hash = self.hasher.hash_one(path);
        let paths = &self.paths;
        if let Some(entry) = self.nodes.find_mut(hash, |e| &paths[e.start..e.end] == path) {
            entry.node = node;
            return;
        }
        let start = self.paths.len();
        self.paths.push_str(path);
        let entry = Entry {
            start,
            end: self.paths.len(),
            node,
        };
        let (paths, hasher) = (&self.paths, &self.hasher);
        self.nodes
            .insert_unique(hash, entry, |e| hasher.hash_one(&paths[e.start..e.end]));
    }

    /// Where the value at `path` starts, or the closest enclosing node that exists.
    pub fn value(&self, path: &str) -> Position {
        self.lookup(path).map(|node| node.value).unwrap_or_default()
    }

    /// Where the key of `path` starts; for a sequence item or the root, its value.
    pub fn key(&self, path: &str) -> Position {
        self.lookup(path)
            .map(|node| node.key.unwrap_or(node.value))
            .unwrap_or_default()
    }

    /// Every path with its key's and value's positions, in path order.
    #[cfg(test)]
    pub fn entries(&self) -> Vec<(&str, Option<Position>, Position)> {
        let mut all: Vec<_> = self
            .nodes
            .iter()
            .map(|e| (&self.paths[e.start..e.end], e.node.key, e.node.value))
            .collect();
        all.sort_by_key(|e| e.0);
        all
    }

    fn lookup(&self, path: &str) -> Option<Node> {
        let mut path = path;
        loop {
            let found = self.nodes.find(self.hasher.hash_one(path), |e| {
                &self.paths[e.start..e.end] == path
            });
            if let Some(entry) = found {
                return Some(entry.node);
            }
            path = parent(path)?;
        }
    }
}

/// The path of the value of key `name` in the mapping at `path`.
pub fn child(path: &str, name: &str) -> String {
    let mut out = String::with_capacity(path.len() + 1 + name.len());
    out.push_str(path);
    push_child(&mut out, name);
    out
}

/// The path of item `index` of the sequence at `path`.
pub fn item(path: &str, index: usize) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    out.push_str(path);
    push_item(&mut out, index);
    out
}

/// `path` made the path of the value of its key `name`.
pub fn push_child(path: &mut String, name: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(name);
}

/// `path` made the path of its item `index`.
pub fn push_item(path: &mut String, index: usize) {
    use std::fmt::Write as _;
    let _ = write!(path, "[{index}]");
}

/// `a.b[2].c` -> `a.b[2]` -> `a.b` -> `a` -> the root (empty).
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "version: 1\nwebhooks:\n  - name: Ops\n    url:\n      age: |\n        x\n";

    fn index(text: &str) -> Positions {
        super::super::tree::read(text).expect("valid YAML").positions
    }

    #[test]
    fn keys_and_values_are_indexed_by_path() {
        let positions = index(TEXT);
        assert_eq!(positions.key("version"), Position { line: 1, column: 1 });
        assert_eq!(positions.value("version"), Position { line: 1, column: 10 });
        assert_eq!(positions.value("webhooks[0]"), Position { line: 3, column: 5 });
        assert_eq!(positions.key("webhooks[0].url"), Position { line: 4, column: 5 });
        assert_eq!(
            positions.key("webhooks[0].url.age"),
            Position { line: 5, column: 7 }
        );
    }

    #[test]
    fn a_missing_path_falls_back_to_its_parent() {
        let positions = index(TEXT);
        assert_eq!(positions.value("webhooks[0].id"), positions.value("webhooks[0]"));
    }

    #[test]
    fn syntax_errors_carry_their_position() {
        let problem = super::super::tree::read("version: 1\nwebhooks: [\n").expect_err("broken YAML");
        assert_eq!(problem.code, "yaml-syntax");
        assert_eq!(problem.at.line, 3);
    }

    #[test]
    fn paths_are_built_as_they_are_walked_up() {
        assert_eq!(child("", "webhooks"), "webhooks");
        assert_eq!(item("webhooks", 12), "webhooks[12]");
        assert_eq!(child("webhooks[12]", "url"), "webhooks[12].url");
        assert_eq!(parent(&child(&item("a", 3), "b")), Some("a[3]"));
    }

    #[test]
    fn parent_walks_up_one_segment() {
        assert_eq!(parent("a.b[2].c"), Some("a.b[2]"));
        assert_eq!(parent("a.b[2]"), Some("a.b"));
        assert_eq!(parent("a"), Some(""));
        assert_eq!(parent(""), None);
    }
}
