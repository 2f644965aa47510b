//! The structural pass: unknown keys, missing keys and values of the wrong type, all of
//! them at once.
//!
//! serde stops at the first problem, so before deserializing, the document is walked
//! beside the JSON Schema generated from the raw types: the schema is the one list of
//! keys and types, shared with editors. A key that is unknown or has the wrong type is
//! reported and removed (a list item is blanked), so the rest of the entry still gets
//! checked. Messages name the kind of a value, never the value: it may be a secret.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use super::positions::{Positions, child, item};
use super::problem::{Position, Problem};
use crate::secrets::plain_name;

/// What a message says in place of a name it does not repeat.
pub(super) const NOT_SHOWN: &str = "(not repeated here: it may be part of a secret)";

/// Reports unknown keys, missing keys and wrongly typed values of `document` against
/// `schema`, and takes them out of `document`.
pub fn check(document: &mut Yaml, schema: &Json, positions: &Positions) -> Vec<Problem> {
    let mut walk = Walk {
        root: schema,
        positions,
        problems: Vec::new(),
        shapes: HashMap::new(),
    };
    walk.node(document, schema, &At::Root);
    walk.problems
}

/// Where a node is: spelled out as a path (`webhooks[2].url`) only for a problem.
enum At<'p> {
    Root,
    Key(&'p At<'p>, &'p str),
    Item(&'p At<'p>, usize),
}

impl At<'_> {
    fn path(&self) -> String {
        match self {
            At::Root => String::new(),
            At::Key(parent, name) => child(&parent.path(), name),
            At::Item(parent, index) => item(&parent.path(), *index),
        }
    }
}

struct Walk<'a> {
    root: &'a Json,
    positions: &'a Positions,
    problems: Vec<Problem>,
    /// What each schema node asks, read once: a file's nodes are many, its schema's few.
    shapes: HashMap<*const Json, Shape<'a>>,
}

/// What a schema node asks of a value, through `$ref`, `anyOf` and `oneOf`.
#[derive(Clone, Copy)]
struct Shape<'a> {
    /// The JSON types allowed, as bits of [`TYPES`]; `None` for any.
    types: Option<u8>,
    secret: bool,
    /// The branch with `properties`: a mapping of known keys.
    object: Option<&'a Json>,
    /// The schema of each value of a map of names (`additionalProperties`).
    values: Option<&'a Json>,
    /// The schema of a list's items.
    items: Option<&'a Json>,
}

const TYPES: [&str; 7] = [
    "null", "boolean", "integer", "number", "string", "array", "object",
];

fn type_bit(name: &str) -> u8 {
    TYPES.iter().position(|t| *t == name).map_or(0, |i| 1 << i)
}

impl<'a> Walk<'a> {
    fn shape(&mut self, schema: &'a Json) -> Shape<'a> {
        if let Some(shape) = self.shapes.get(&std::ptr::from_ref(schema)) {
            return *shape;
        }
        let mut types = None;
        self.each_type(schema, &mut |t| *types.get_or_insert(0) |= type_bit(t));
        let shape = Shape {
            types,
            secret: self.is_secret(schema),
            object: self.branch(schema, "properties"),
            values: self
                .branch(schema, "additionalProperties")
                .and_then(|s| s.get("additionalProperties"))
                .filter(|s| s.is_object()),
            items: self.branch(schema, "items").and_then(|s| s.get("items")),
        };
        self.shapes.insert(std::ptr::from_ref(schema), shape);
        shape
    }

    /// Checks `value` against `schema`; false when it has the wrong type and was reported.
    fn node(&mut self, value: &mut Yaml, schema: &'a Json, at: &At<'_>) -> bool {
        let found = kind(value);
        let shape = self.shape(schema);
        let fits = shape.types.is_none_or(|allowed| {
            let number = found == "integer" && allowed & type_bit("number") != 0;
            allowed & type_bit(found) != 0 || number
        });
        // A plaintext secret is let through, for validation to say how to encrypt it.
        let plaintext_secret = found == "string" && shape.secret;
        if !fits && !plaintext_secret {
            let path = at.path();
            self.problems.push(wrong_type(
                &path,
                &self.types(schema),
                found,
                self.positions.value(&path),
            ));
            return false;
        }
        match value {
            Yaml::Mapping(mapping) => {
                if let Some(object) = shape.object {
                    self.mapping(mapping, object, at);
                } else if let Some(values) = shape.values {
                    self.map(mapping, values, at);
                }
            }
            Yaml::Sequence(items) => {
                if let Some(item_schema) = shape.items {
                    for (i, entry) in items.iter_mut().enumerate() {
                        if !self.node(entry, item_schema, &At::Item(at, i)) {
                            // Blanked rather than removed, so later items keep their index.
                            *entry = Yaml::Null;
                        }
                    }
                }
            }
            _ => {}
        }
        true
    }

    fn mapping(&mut self, mapping: &mut serde_yaml::Mapping, object: &'a Json, at: &At<'_>) {
        let properties = object.get("properties").and_then(Json::as_object);
        let known = || -> Vec<&str> {
            properties
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default()
        };
        let required = object.get("required").and_then(Json::as_array);
        for name in required.into_iter().flatten().filter_map(Json::as_str) {
            if !mapping.contains_key(name) {
                let path = at.path();
                self.problems
                    .push(missing_key(name, &path, self.positions.value(&path)));
            }
        }
        let mut rejected = Vec::new();
        for (key, value) in mapping.iter_mut() {
            let name = key_name(key);
            if let Some(child_schema) = properties.and_then(|p| p.get(name.as_ref())) {
                if !self.node(value, child_schema, &At::Key(at, &name)) {
                    rejected.push(key.clone());
                }
            } else {
                let path = at.path();
                let key_at = self.positions.key(&child(&path, &name));
                self.problems.push(unknown_key(&name, &path, &known(), key_at));
                rejected.push(key.clone());
            }
        }
        for key in rejected {
            mapping.remove(&key);
        }
    }

    /// A mapping of names to values of one schema (`templates:`, `match:`). A value of
    /// the wrong type is reported and removed.
    fn map(&mut self, mapping: &mut serde_yaml::Mapping, values: &'a Json, at: &At<'_>) {
        let mut rejected = Vec::new();
        for (key, value) in mapping.iter_mut() {
            if !self.node(value, values, &At::Key(at, &key_name(key))) {
                rejected.push(key.clone());
            }
        }
        for key in rejected {
            mapping.remove(&key);
        }
    }

    fn each_type(&self, schema: &'a Json, each: &mut dyn FnMut(&'a str)) {
        let schema = self.resolve(schema);
        match schema.get("type") {
            Some(Json::String(t)) => each(t),
            Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).for_each(each),
            _ => {
                let branches = schema
                    .get("anyOf")
                    .or_else(|| schema.get("oneOf"))
                    .and_then(Json::as_array);
                for branch in branches.into_iter().flatten() {
                    self.each_type(branch, each);
                }
            }
        }
    }

    /// The JSON types `schema` allows, through `$ref` and `anyOf`; empty for any.
    fn types(&self, schema: &'a Json) -> Vec<&'a str> {
        let mut types = Vec::new();
        self.each_type(schema, &mut |t| types.push(t));
        types
    }

    /// An age-encrypted secret. A plain string is let through here so that validation
    /// can report it as a plaintext secret, with how to encrypt it.
    fn is_secret(&self, schema: &'a Json) -> bool {
        self.branch(schema, "properties")
            .and_then(|s| s.get("properties"))
            .is_some_and(|p| p.get("age").is_some())
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
            .and_then(|r| r.strip_prefix('#'))
            .filter(|pointer| pointer.starts_with('/'))
            .and_then(|pointer| self.root.pointer(pointer));
        target.unwrap_or(schema)
    }
}

/// The JSON Schema type of a YAML value.
fn kind(value: &Yaml) -> &'static str {
    match value {
        Yaml::Null => "null",
        Yaml::Bool(_) => "boolean",
        Yaml::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Yaml::Number(_) => "number",
        Yaml::String(_) => "string",
        Yaml::Sequence(_) => "array",
        Yaml::Mapping(_) => "object",
        Yaml::Tagged(_) => "tagged",
    }
}

fn described(kind: &str) -> &'static str {
    match kind {
        "null" => "empty",
        "boolean" => "true or false",
        "integer" => "an integer",
        "number" => "a number",
        "string" => "a string",
        "array" => "a list",
        "object" => "a mapping",
        _ => "a tagged value (`!tag`), which hookwarden does not read",
    }
}

fn wrong_type(path: &str, allowed: &[&str], found: &str, at: Position) -> Problem {
    let expected: Vec<&str> = allowed
        .iter()
        .filter(|t| **t != "null")
        .map(|t| described(t))
        .collect();
    let place = if path.is_empty() {
        "the file".to_owned()
    } else {
        format!("`{path}`")
    };
    let problem = Problem::new(
        "invalid-type",
        at,
        format!(
            "{place} must be {}, not {}",
            expected.join(" or "),
            described(found)
        ),
    );
    // A pasted `age: |` block at the level of its key leaves the key empty.
    let key = path.rsplit('.').next().unwrap_or(path);
    let secret = key == "url" || key == "bot_token";
    if secret && found == "null" {
        return problem.help(format!(
            "indent the `age: |` block under `{key}:`, two spaces further than `{key}:` itself"
        ));
    }
    problem.help("see schema/hookwarden.schema.json (or examples/hookwarden.yaml) for what each key takes")
}

fn unknown_key(name: &str, path: &str, known: &[&str], at: Position) -> Problem {
    let place = if path.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in `{path}`")
    };
    if name == "<<" {
        return Problem::new(
            "unknown-key",
            at,
            format!("YAML merge keys (`<<`) are not supported {place}"),
        )
        .help("write the keys out in each entry");
    }
    let suggestion = known
        .iter()
        .map(|k| (strsim::jaro_winkler(name, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    // A name at most two edits from a known key is a typo of it, in any case (`Webhooks`):
    // it holds nothing the key does not.
    let typo = suggestion.is_some_and(|(_, k)| strsim::levenshtein(name, k) <= 2);
    let shown = if plain_name(name) || typo {
        format!("`{name}`")
    } else {
        NOT_SHOWN.to_owned()
    };
    let problem = Problem::new("unknown-key", at, format!("unknown key {shown} {place}"));
    if name == "age"
        && let Some(key) = known.iter().find(|k| ["url", "bot_token"].contains(k))
    {
        return problem.help(format!(
            "an `age:` block belongs under `{key}:`: indent it two spaces further than `{key}:`"
        ));
    }
    match suggestion {
        Some((_, k)) => problem.help(format!("did you mean `{k}`?")),
        None => problem.help(format!(
            "remove it; the keys allowed here are {}",
            backticked(known)
        )),
    }
}

fn missing_key(name: &str, path: &str, at: Position) -> Problem {
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
        "webhooks" => "add `webhooks:` with the ids of the webhooks this route sends to, such as `webhooks: [general-alerts]`".to_owned(),
        "text" => "add `text:` with the message's MiniJinja text, such as `text: \"{{ status | upper }}: {{ commonLabels.alertname }}\"`".to_owned(),
        other => format!("add `{other}:`"),
    };
    Problem::new(
        "missing-key",
        at,
        format!("{place} is missing the required key `{name}`"),
    )
    .help(help)
}

/// At most `max` characters of `text`, with `…` when cut.
pub(super) fn truncated(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn backticked(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn key_text(key: &Yaml) -> String {
    key_name(key).into_owned()
}

/// How a key is named in paths and messages.
pub(super) fn key_name(key: &Yaml) -> Cow<'_, str> {
    match key {
        Yaml::String(s) => Cow::Borrowed(s),
        Yaml::Number(n) => Cow::Owned(n.to_string()),
        Yaml::Bool(b) => Cow::Owned(b.to_string()),
        Yaml::Null => Cow::Borrowed("null"),
        _ => Cow::Borrowed("(a complex key)"),
    }
}
