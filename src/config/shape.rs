//! The structural pass: unknown keys and missing required keys, all of them at once.
//!
//! serde stops at the first unknown field, so before deserializing, the document is
//! walked beside the JSON Schema generated from the raw types: the schema is the one
//! list of known keys, shared with editors. Unknown keys are reported (with a
//! did-you-mean) and removed, so the rest of the entry still gets checked.

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use super::positions::Positions;
use super::problem::Problem;

/// Reports unknown and missing keys of `document` against `schema`, and removes the
/// unknown ones.
pub fn check(document: &mut Yaml, schema: &Json, positions: &Positions) -> Vec<Problem> {
    let mut walk = Walk {
        root: schema,
        positions,
        problems: Vec::new(),
    };
    walk.node(document, schema, "");
    walk.problems
}

struct Walk<'a> {
    root: &'a Json,
    positions: &'a Positions,
    problems: Vec<Problem>,
}

impl<'a> Walk<'a> {
    fn node(&mut self, value: &mut Yaml, schema: &'a Json, path: &str) {
        match value {
            Yaml::Mapping(mapping) => {
                if let Some(object) = self.branch(schema, "properties") {
                    self.mapping(mapping, object, path);
                }
            }
            Yaml::Sequence(items) => {
                if let Some(item_schema) = self.branch(schema, "items").and_then(|s| s.get("items")) {
                    for (i, item) in items.iter_mut().enumerate() {
                        self.node(item, item_schema, &format!("{path}[{i}]"));
                    }
                }
            }
            _ => {}
        }
    }

    fn mapping(&mut self, mapping: &mut serde_yaml::Mapping, object: &'a Json, path: &str) {
        let properties = object.get("properties").and_then(Json::as_object);
        let known: Vec<&str> = properties
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut unknown = Vec::new();
        for (key, child) in mapping.iter_mut() {
            let name = key_text(key);
            let child_path = join(path, &name);
            if let Some(child_schema) = properties.and_then(|p| p.get(&name)) {
                self.node(child, child_schema, &child_path);
            } else {
                let at = self.positions.key(&child_path);
                self.problems.push(unknown_key(&name, path, &known, at));
                unknown.push(key.clone());
            }
        }
        for key in unknown {
            mapping.remove(&key);
        }
        let required = object.get("required").and_then(Json::as_array);
        for name in required.into_iter().flatten().filter_map(Json::as_str) {
            if !mapping.contains_key(name) {
                self.problems
                    .push(missing_key(name, path, self.positions.value(path)));
            }
        }
    }

    /// `schema` itself, or the branch of it (through `$ref` and `anyOf`) that has `field`.
    fn branch(&self, schema: &'a Json, field: &str) -> Option<&'a Json> {
        let schema = self.resolve(schema);
        if schema.get(field).is_some() {
            return Some(schema);
        }
        let branches = schema.get("anyOf").or_else(|| schema.get("oneOf"))?.as_array()?;
        branches.iter().find_map(|b| self.branch(b, field))
    }

    fn resolve(&self, schema: &'a Json) -> &'a Json {
        let target = schema
            .get("$ref")
            .and_then(Json::as_str)
            .and_then(|r| r.strip_prefix("#/"))
            .and_then(|pointer| self.root.pointer(&format!("/{pointer}")));
        target.unwrap_or(schema)
    }
}

fn unknown_key(name: &str, path: &str, known: &[&str], at: super::problem::Position) -> Problem {
    let place = if path.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in `{path}`")
    };
    let problem = Problem::new("unknown-key", at, format!("unknown key `{name}` {place}"));
    let suggestion = known
        .iter()
        .map(|k| (strsim::jaro_winkler(name, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match suggestion {
        Some((_, k)) => problem.help(format!("did you mean `{k}`?")),
        None => problem.help(format!(
            "remove it; the keys allowed here are {}",
            backticked(known)
        )),
    }
}

fn missing_key(name: &str, path: &str, at: super::problem::Position) -> Problem {
    let place = if path.is_empty() {
        "the file".to_owned()
    } else {
        format!("`{path}`")
    };
    let help = match name {
        "version" => "add `version: 1` at the top of the file".to_owned(),
        "name" => "add `name:` with the webhook's display name".to_owned(),
        "url" => "add `url:` with the webhook URL encrypted by `hookwarden encrypt`, as `age: |` and the armored block".to_owned(),
        "age" => "put the armored ciphertext printed by `hookwarden encrypt` under `age: |`".to_owned(),
        other => format!("add `{other}:`"),
    };
    Problem::new(
        "missing-key",
        at,
        format!("{place} is missing the required key `{name}`"),
    )
    .help(help)
}

fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub(super) fn key_text(key: &Yaml) -> String {
    match key {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Null => "null".to_owned(),
        _ => "?".to_owned(),
    }
}
