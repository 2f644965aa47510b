//! Where each node of the desired-state file starts.
//!
//! serde_yaml knows positions only for syntax and type errors, so the semantic checks
//! look their positions up here, by the same dotted path (`webhooks[2].url`) that the
//! checks use to name a field. The index is built from saphyr's marked tree.

use std::collections::HashMap;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use super::problem::{Position, Problem};

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
    /// Parses `text` and indexes every node. A syntax error comes back as a problem.
    pub fn index(text: &str) -> Result<Self, Problem> {
        let documents = MarkedYaml::load_from_str(text).map_err(|error| {
            let at = position(*error.marker());
            Problem::new("yaml-syntax", at, format!("invalid YAML: {}", error.info()))
                .help("fix the YAML syntax at this position (indentation, quotes, `key: value`)")
        })?;
        if documents.len() > 1 {
            let at = position(documents[1].span.start);
            return Err(
                Problem::new("yaml-syntax", at, "the file holds more than one YAML document")
                    .help("keep one document per file: remove the `---` separator and what follows"),
            );
        }
        let mut positions = Positions::default();
        if let Some(root) = documents.first() {
            positions.visit(String::new(), None, root);
        }
        Ok(positions)
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

    fn visit(&mut self, path: String, key: Option<Position>, node: &MarkedYaml<'_>) {
        match &node.data {
            YamlData::Mapping(mapping) => {
                for (k, v) in mapping {
                    let name = scalar_text(k);
                    let child = if path.is_empty() {
                        name
                    } else {
                        format!("{path}.{name}")
                    };
                    self.visit(child, Some(position(k.span.start)), v);
                }
            }
            YamlData::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.visit(format!("{path}[{i}]"), None, item);
                }
            }
            _ => {}
        }
        let value = position(node.span.start);
        self.nodes.insert(path, Node { key, value });
    }
}

/// `a.b[2].c` -> `a.b[2]` -> `a.b` -> `a` -> the root (empty).
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

fn scalar_text(node: &MarkedYaml<'_>) -> String {
    match &node.data {
        YamlData::Value(Scalar::String(s)) | YamlData::Representation(s, _, _) => s.to_string(),
        YamlData::Value(Scalar::Integer(i)) => i.to_string(),
        YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
        YamlData::Value(Scalar::FloatingPoint(f)) => f.to_string(),
        _ => "?".to_owned(),
    }
}

/// saphyr counts lines from 1 and columns from 0.
fn position(marker: saphyr::Marker) -> Position {
    Position {
        line: marker.line(),
        column: marker.col() + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "version: 1\nwebhooks:\n  - name: Ops\n    url:\n      age: |\n        x\n";

    #[test]
    fn keys_and_values_are_indexed_by_path() {
        let positions = Positions::index(TEXT).expect("valid YAML");
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
        let positions = Positions::index(TEXT).expect("valid YAML");
        assert_eq!(positions.value("webhooks[0].id"), positions.value("webhooks[0]"));
    }

    #[test]
    fn syntax_errors_carry_their_position() {
        let problem = Positions::index("version: 1\nwebhooks: [\n").expect_err("broken YAML");
        assert_eq!(problem.code, "yaml-syntax");
        assert_eq!(problem.at.line, 3);
    }

    #[test]
    fn parent_walks_up_one_segment() {
        assert_eq!(parent("a.b[2].c"), Some("a.b[2]"));
        assert_eq!(parent("a.b[2]"), Some("a.b"));
        assert_eq!(parent("a"), Some(""));
        assert_eq!(parent(""), None);
    }
}
