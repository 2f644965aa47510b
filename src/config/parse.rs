//! Text to raw types: YAML syntax, the structural pass, then serde, entry by entry.
//!
//! Each webhook is deserialized on its own, so one broken entry does not hide the
//! problems of the others. This is the only place serde_yaml is used.

use serde::de::DeserializeOwned;
use serde_yaml::Value;

use super::positions::Positions;
use super::problem::{Position, Problem};
use super::raw::{self, RawConfig, RawRoute, RawTemplate, RawWebhook};
use super::shape;

/// What could be read. `top` is absent when the top level itself did not deserialize;
/// `webhooks` and `routes` keep each entry's index in the file, `templates` their id.
#[derive(Debug, Default)]
pub struct Parsed {
    pub top: Option<RawConfig>,
    pub webhooks: Vec<(usize, RawWebhook)>,
    pub routes: Vec<(usize, RawRoute)>,
    pub templates: Vec<(String, RawTemplate)>,
}

/// The YAML of `text` as serde_yaml reads it, or where its syntax breaks.
pub fn document(text: &str) -> Result<Value, Problem> {
    serde_yaml::from_str(text).map_err(|error| {
        let at = location(&error);
        // serde_yaml repeats the position in its message; it is in `at` already.
        let message = error.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
        Problem::new("yaml-syntax", at, format!("invalid YAML: {message}"))
            .help("fix the YAML at this position (indentation, quotes, nesting)")
    })
}

/// `document` (from [`document`]) to raw types, with every problem found on the way.
pub fn parse(document: Result<Value, Problem>, positions: &Positions) -> (Parsed, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut document = match document {
        Ok(document) => document,
        Err(problem) => return (Parsed::default(), vec![problem]),
    };
    match &document {
        Value::Mapping(_) => {}
        Value::Null => {
            let problem = Problem::new("empty-file", Position { line: 1, column: 1 }, "the file is empty")
                .help("start it with `version: 1` and a `webhooks:` list; see examples/hookwarden.yaml");
            return (Parsed::default(), vec![problem]);
        }
        _ => {
            let problem = Problem::new(
                "invalid-type",
                positions.value(""),
                "the file must be a mapping of keys to values",
            )
            .help("start it with `version: 1` and a `webhooks:` list; see examples/hookwarden.yaml");
            return (Parsed::default(), vec![problem]);
        }
    }
    let schema = raw::schema();
    problems.extend(shape::check(&mut document, schema.as_value(), positions));

    let Value::Mapping(mut top) = document else {
        unreachable!("checked above")
    };
    // Lists and maps of entries are read entry by entry, each on its own.
    let webhooks = top.remove("webhooks").unwrap_or(Value::Null);
    let routes = top.remove("routes").unwrap_or(Value::Null);
    let templates = top.remove("templates").unwrap_or(Value::Null);
    let parsed = Parsed {
        top: entry::<RawConfig>(Value::Mapping(top), String::new, positions, &mut problems),
        webhooks: items(webhooks, "webhooks", positions, &mut problems),
        routes: items(routes, "routes", positions, &mut problems),
        templates: templates_of(templates, positions, &mut problems),
    };
    (parsed, problems)
}

/// Each item of the list `value`, with its index. A `value` that is not a list was
/// reported and removed by the structural pass, and items it blanked were reported there
/// too.
fn items<T: DeserializeOwned>(
    value: Value,
    name: &str,
    positions: &Positions,
    problems: &mut Vec<Problem>,
) -> Vec<(usize, T)> {
    let Value::Sequence(items) = value else {
        return Vec::new();
    };
    items
        .into_iter()
        .enumerate()
        .filter(|(_, item)| !item.is_null())
        .filter_map(|(i, item)| {
            entry::<T>(item, || format!("{name}[{i}]"), positions, problems).map(|entry| (i, entry))
        })
        .collect()
}

/// Each template of the `templates:` mapping, with its id, in the file's order.
fn templates_of(
    value: Value,
    positions: &Positions,
    problems: &mut Vec<Problem>,
) -> Vec<(String, RawTemplate)> {
    let Value::Mapping(mapping) = value else {
        return Vec::new();
    };
    mapping
        .into_iter()
        .filter(|(_, template)| !template.is_null())
        .filter_map(|(key, template)| {
            let id = shape::key_text(&key);
            let raw = entry::<RawTemplate>(template, || format!("templates.{id}"), positions, problems)?;
            Some((id, raw))
        })
        .collect()
}

/// Deserializes one entry, at `path`; a failure becomes a problem at the failing field.
/// Missing keys were already reported by the structural pass.
fn entry<T: DeserializeOwned>(
    value: Value,
    path: impl FnOnce() -> String,
    positions: &Positions,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    match serde_path_to_error::deserialize(value) {
        Ok(entry) => Some(entry),
        Err(error) => {
            // Missing keys were reported by the structural pass, and so were wrong types;
            // serde's own message would quote the value, which may be a secret.
            if !error.inner().to_string().starts_with("missing field") {
                let field = join(&path(), &error.path().to_string());
                problems.push(
                    Problem::new(
                        "invalid-value",
                        positions.value(&field),
                        format!("`{field}` has a value hookwarden cannot read"),
                    )
                    .help("see schema/hookwarden.schema.json for what each key takes"),
                );
            }
            None
        }
    }
}

fn join(path: &str, inner: &str) -> String {
    match (path.is_empty(), inner) {
        (_, "." | "") => path.to_owned(),
        (true, _) => inner.to_owned(),
        (false, _) if inner.starts_with('[') => format!("{path}{inner}"),
        (false, _) => format!("{path}.{inner}"),
    }
}

/// Only the `recipients:` list of `text`.
pub fn recipients(file: &str, text: &str) -> Result<Vec<String>, super::problem::Report> {
    #[derive(serde::Deserialize)]
    struct Recipients {
        #[serde(default)]
        recipients: Vec<String>,
    }
    serde_yaml::from_str::<Recipients>(text)
        .map(|r| r.recipients)
        .map_err(|error| {
            let at = location(&error);
            super::problem::Report {
                file: file.to_owned(),
                problems: vec![Problem::new(
                    "invalid-recipients",
                    at,
                    format!("cannot read `recipients:`: {error}"),
                )],
            }
        })
}

/// Where serde_yaml says `error` is.
/// Where serde_yaml says its error is; the file's start when it says nowhere (more
/// than one document, say), so that every problem has a position.
fn location(error: &serde_yaml::Error) -> Position {
    error
        .location()
        .map_or(Position { line: 1, column: 1 }, |l| Position {
            line: l.line(),
            column: l.column(),
        })
}
