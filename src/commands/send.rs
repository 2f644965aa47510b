//! `hookwarden send` and `hookwarden alerts`: clients of the daemon's HTTP API.

use std::io::Write;

use serde_json::{Value, json};

use crate::cli::{AlertsCommand, Format, Global, SendArgs};
use crate::error::{Error, Exit};

/// The endpoint: `--endpoint`, else `HOOKWARDEN_LISTEN` as the daemon uses it.
fn endpoint(given: Option<&str>) -> String {
    let listen = std::env::var("HOOKWARDEN_LISTEN").ok().filter(|l| !l.is_empty());
    let base = given
        .map(str::to_owned)
        .or_else(|| listen.map(|l| format!("http://{l}")));
    base.unwrap_or_else(|| "http://127.0.0.1:8787".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// One request to the API; an error answer becomes [`Error::Api`].
fn call(method: reqwest::Method, endpoint: &str, path: &str, body: Option<Value>) -> Result<Value, Error> {
    let token = super::daemon::api_token()?;
    let runtime = super::slack::runtime();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("a client builds");
        let mut request = client.request(method, format!("{endpoint}{path}"));
        if let Some(token) = &token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let unreachable = |e: reqwest::Error| Error::Unreachable {
            endpoint: endpoint.to_owned(),
            reason: crate::slack::describe(e),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(answer);
        }
        let text = |field: &str| answer["error"][field].as_str().unwrap_or_default().to_owned();
        let mut message = text("message");
        if let Some(mentions) = answer["error"]["mentions"].as_array() {
            for mention in mentions {
                message.push_str(&format!(
                    "\n  {}",
                    mention["message"].as_str().unwrap_or_default()
                ));
            }
        }
        Err(Error::Api {
            status: status.as_u16(),
            code: text("code"),
            message,
        })
    })
}

fn print(out: &mut dyn Write, format: Format, answer: &Value, text: String) -> Result<Exit, Error> {
    let shown = match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(answer).expect("serializes")),
        _ => text,
    };
    out.write_all(shown.as_bytes()).map_err(Error::Output)?;
    Ok(Exit::Success)
}

pub fn send(global: &Global, args: &SendArgs, out: &mut dyn Write) -> Result<Exit, Error> {
    let body = json!({
        "webhook": args.webhook,
        "text": args.text,
        "mentions": args.mentions,
        "key": args.key,
        "mrkdwn": args.mrkdwn,
    });
    let answer = call(
        reqwest::Method::POST,
        &endpoint(args.endpoint.as_deref()),
        "/v1/alerts",
        Some(body),
    )?;
    let id = answer["id"].as_str().unwrap_or_default();
    let text = if answer["duplicate"] == true {
        format!(
            "alert {id} was already accepted with this key ({})\n",
            answer["status"].as_str().unwrap_or_default()
        )
    } else {
        format!("queued alert {id}\n")
    };
    print(out, global.format, &answer, text)
}

pub fn alerts(global: &Global, command: &AlertsCommand, out: &mut dyn Write) -> Result<Exit, Error> {
    match command {
        AlertsCommand::List { endpoint: given } => {
            let answer = call(
                reqwest::Method::GET,
                &endpoint(given.as_deref()),
                "/v1/alerts?status=failed",
                None,
            )?;
            let rows: Vec<String> = answer["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(line)
                .collect();
            let text = if rows.is_empty() {
                "No failed alerts.\n".to_owned()
            } else {
                rows.concat()
            };
            print(out, global.format, &answer, text)
        }
        AlertsCommand::Show { id, endpoint: given } => {
            let answer = call(
                reqwest::Method::GET,
                &endpoint(given.as_deref()),
                &format!("/v1/alerts/{id}"),
                None,
            )?;
            print(out, global.format, &answer, line(&answer))
        }
        AlertsCommand::Retry { id, endpoint: given } => {
            let path = format!("/v1/alerts/{id}/retry");
            let answer = call(reqwest::Method::POST, &endpoint(given.as_deref()), &path, None)?;
            let text = format!(
                "queued again as alert {}\n",
                answer["id"].as_str().unwrap_or_default()
            );
            print(out, global.format, &answer, text)
        }
    }
}

/// `ID  WEBHOOK  STATUS  attempts N  LAST ERROR`.
fn line(alert: &Value) -> String {
    let field = |name: &str| alert[name].as_str().unwrap_or("-").to_owned();
    format!(
        "{}  {}  {}  attempts {}  {}\n",
        field("id"),
        field("webhook"),
        field("status"),
        alert["attempts"].as_u64().unwrap_or(0),
        field("last_error")
    )
}
