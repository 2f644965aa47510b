//! Where each node of the desired-state file starts.
//!
//! serde's values carry no positions, so the semantic checks look their positions up
//! here, by the same dotted path (`webhooks[2].url`) that the checks use to name a
//! field. The index is filled by the one read of the file ([`super::tree`]).

use std::collections::HashMap;

use super::problem::Position;

/// Positions of keys and values by path. The root's path is the empty string.
#[derive(Debug, Default)]
pub struct Positions {
    nodes: HashMap<String, Node>,
}

#[derive(Debug, Clone, Copy)]
struct Node {
    key: Option<Position>,
    value: Position,
}

impl Positions {
    /// Room for about as many nodes as a file of `bytes` has: a webhook's five or so
    /// nodes take about 150 bytes, its ciphertext most of them.
    pub fn for_text(bytes: usize) -> Self {
        Positions {
            nodes: HashMap::with_capacity(bytes / 128),
        }
    }

    /// Records that the node at `path` starts at `value`, its key (if any) at `key`.
    pub fn insert(&mut self, path: String, key: Option<Position>, value: Position) {
        self.nodes.insert(path, Node { key, value });
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

    fn lookup(&self, path: &str) -> Option<&Node> {
        let mut path = path;
        loop {
            if let Some(node) = self.nodes.get(path) {
                return Some(node);
            }
            path = parent(path)?;
        }
    }
}

/// The path of the value of key `name` in the mapping at `path`.
pub fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        return name.to_owned();
    }
    let mut out = String::with_capacity(path.len() + 1 + name.len());
    out.push_str(path);
    out.push('.');
    out.push_str(name);
    out
}

/// The path of item `index` of the sequence at `path`.
pub fn item(path: &str, index: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(path.len() + 8);
    out.push_str(path);
    let _ = write!(out, "[{index}]");
    out
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
