//! Templates: MiniJinja over the notification as it arrived, with every value escaped
//! for Slack (`&`, `<`, `>`) unless the template says `| safe`, so that alert content
//! cannot ping a channel or forge a link. `blocks` renders to a JSON array of Block Kit
//! blocks; its `tojson` escapes the same way.
//!
//! Rendering is bounded: MiniJinja's fuel caps the instructions a template may run.

use std::collections::BTreeMap;

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};

use super::TemplateSpec;
use super::notification::{Alert, Notification};
use crate::alert::escape;

/// The instructions one render may run: far beyond any sensible template over a large
/// group, short of forever.
const FUEL: u64 = 5_000_000;

/// A template's text and blocks, rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub text: String,
    pub blocks: Option<Vec<serde_json::Value>>,
}

/// What is wrong with a template, for `validate` to place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    /// `text` or `blocks`.
    pub field: &'static str,
    /// The line within the template, where MiniJinja knows it (1-based).
    pub line: Option<usize>,
    pub message: String,
    /// A syntax error, or one met rendering the sample notification.
    pub syntax: bool,
}

/// The applied templates, compiled.
pub struct Templates {
    env: Environment<'static>,
    ids: Vec<String>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("ids", &self.ids)
            .finish_non_exhaustive()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            env: environment(),
            ids: Vec::new(),
        }
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_formatter(|out, _state, value| {
        let text = value.to_string();
        if value.is_safe() {
            out.write_str(&text)
        } else {
            out.write_str(&escape(&text))
        }
        .map_err(|_| Error::new(ErrorKind::WriteFailure, "cannot write the template's output"))
    });
    env.add_filter("tojson", tojson);
    env
}

/// JSON for `blocks`: strings escaped for Slack unless the value is safe.
fn tojson(value: &Value) -> Result<Value, Error> {
    let mut json = serde_json::to_value(value)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("cannot write JSON: {e}")))?;
    if !value.is_safe() {
        escape_strings(&mut json);
    }
    let text = serde_json::to_string(&json)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("cannot write JSON: {e}")))?;
    Ok(Value::from_safe_string(text))
}

fn escape_strings(json: &mut serde_json::Value) {
    match json {
        serde_json::Value::String(text) => *text = escape(text),
        serde_json::Value::Array(items) => items.iter_mut().for_each(escape_strings),
        serde_json::Value::Object(map) => map.values_mut().for_each(escape_strings),
        _ => {}
    }
}

fn name(id: &str, field: &str) -> String {
    format!("{id}.{field}")
}

impl Templates {
    /// Compiles `specs`; one that does not compile (it passed validation when it was
    /// applied) is left out, loudly, and its routes use the built-in layout.
    pub fn new(specs: &BTreeMap<String, TemplateSpec>) -> Self {
        let mut templates = Templates::default();
        for (id, spec) in specs {
            match templates.add(id, spec) {
                Ok(()) => templates.ids.push(id.clone()),
                Err(problem) => {
                    tracing::error!(template = %id, problem = %problem.message, "an applied template does not compile; its routes use the built-in layout");
                }
            }
        }
        templates
    }

    fn add(&mut self, id: &str, spec: &TemplateSpec) -> Result<(), TemplateProblem> {
        let syntax = |field| move |error: Error| problem(field, &error, true);
        self.env
            .add_template_owned(name(id, "text"), spec.text.clone())
            .map_err(syntax("text"))?;
        if let Some(blocks) = &spec.blocks {
            self.env
                .add_template_owned(name(id, "blocks"), blocks.clone())
                .map_err(syntax("blocks"))?;
        }
        Ok(())
    }

    pub fn has(&self, id: &str) -> bool {
        self.ids.iter().any(|known| known == id)
    }

    /// Renders template `id` over `notification`.
    pub fn render(&self, id: &str, notification: &Notification) -> Result<Rendered, TemplateProblem> {
        let context = Value::from_serialize(notification);
        let run = |field: &'static str| -> Result<Option<String>, TemplateProblem> {
            match self.env.get_template(&name(id, field)) {
                Ok(template) => template
                    .render(&context)
                    .map(Some)
                    .map_err(|error| problem(field, &error, false)),
                Err(_) => Ok(None),
            }
        };
        let text = run("text")?.unwrap_or_default();
        let blocks = match run("blocks")? {
            Some(json) => Some(blocks(&json)?),
            None => None,
        };
        Ok(Rendered {
            text: text.trim().to_owned(),
            blocks,
        })
    }

    /// Every problem of `spec`: its syntax, then a render of the sample notification.
    pub fn check(id: &str, spec: &TemplateSpec) -> Vec<TemplateProblem> {
        let mut templates = Templates::default();
        if let Err(problem) = templates.add(id, spec) {
            return vec![problem];
        }
        templates.ids.push(id.to_owned());
        match templates.render(id, &sample()) {
            Ok(_) => Vec::new(),
            Err(problem) => vec![problem],
        }
    }
}

/// `blocks`' output: a JSON array of objects.
fn blocks(json: &str) -> Result<Vec<serde_json::Value>, TemplateProblem> {
    let refused = |message: String| TemplateProblem {
        field: "blocks",
        line: None,
        message,
        syntax: false,
    };
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| refused(format!("`blocks` does not render to JSON ({e})")))?;
    match value {
        serde_json::Value::Array(items) if items.iter().all(serde_json::Value::is_object) => Ok(items),
        _ => Err(refused(
            "`blocks` must render to a JSON array of Block Kit blocks (objects)".to_owned(),
        )),
    }
}

fn problem(field: &'static str, error: &Error, syntax: bool) -> TemplateProblem {
    let message = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    TemplateProblem {
        field,
        line: error.line(),
        message,
        syntax,
    }
}

/// The notification templates are checked against: two alerts, one firing and one
/// resolved, with the labels and annotations Alertmanager's own examples use.
pub fn sample() -> Notification {
    let labels = |name: &str, severity: &str| {
        BTreeMap::from([
            ("alertname".to_owned(), name.to_owned()),
            ("severity".to_owned(), severity.to_owned()),
            ("instance".to_owned(), "web-1:9100".to_owned()),
        ])
    };
    let annotations = |summary: &str| {
        BTreeMap::from([
            ("summary".to_owned(), summary.to_owned()),
            ("description".to_owned(), format!("{summary}, for 5 minutes")),
        ])
    };
    let alert = |status: &str, name: &str| Alert {
        status: status.to_owned(),
        labels: labels(name, "critical"),
        annotations: annotations("Disk almost full"),
        starts_at: "2026-01-01T00:00:00Z".to_owned(),
        ends_at: "0001-01-01T00:00:00Z".to_owned(),
        generator_url: "http://prometheus.example/graph".to_owned(),
        fingerprint: format!("{name}-{status}"),
        ..Alert::default()
    };
    Notification {
        version: "4".to_owned(),
        group_key: "{}:{alertname=\"DiskFull\"}".to_owned(),
        status: "firing".to_owned(),
        receiver: "hookwarden".to_owned(),
        group_labels: BTreeMap::from([("alertname".to_owned(), "DiskFull".to_owned())]),
        common_labels: labels("DiskFull", "critical"),
        common_annotations: annotations("Disk almost full"),
        external_url: "http://alertmanager.example".to_owned(),
        alerts: vec![alert("firing", "DiskFull"), alert("resolved", "DiskFull")],
        ..Notification::default()
    }
}
