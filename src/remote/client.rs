//! The one client of the daemon's HTTP API, over TCP or the admin socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use reqwest::Method;
use serde_json::Value;

use super::{RemoteError, Request, Response};
use crate::secrets::Secret;

/// Where the daemon is.
#[derive(Debug, Clone)]
pub enum Target {
    /// Its base URL, `http://127.0.0.1:8787`.
    Http(String),
    /// Its admin socket.
    Socket(PathBuf),
}

#[derive(Debug)]
pub struct Client {
    target: Target,
    /// Sent as `Authorization: Bearer`.
    token: Option<Secret>,
    timeout: Duration,
}

impl Client {
    pub fn new(target: Target, token: Option<Secret>, timeout: Duration) -> Self {
        let target = match target {
            Target::Http(url) => Target::Http(url.trim_end_matches('/').to_owned()),
            socket @ Target::Socket(_) => socket,
        };
        Client {
            target,
            token,
            timeout,
        }
    }

    /// How errors name the daemon.
    fn endpoint(&self) -> String {
        match &self.target {
            Target::Http(url) => url.clone(),
            Target::Socket(path) => format!("unix:{}", path.display()),
        }
    }

    fn unreachable(&self, reason: String) -> RemoteError {
        RemoteError::Unreachable {
            endpoint: self.endpoint(),
            reason,
        }
    }

    /// One request; an error answer becomes [`RemoteError::Api`].
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, RemoteError> {
        let (status, answer) = match &self.target {
            Target::Http(url) => self.over_http(url, method, path, body).await?,
            Target::Socket(socket) => {
                let exchange = self.over_socket(socket, method, path, body);
                tokio::time::timeout(self.timeout, exchange)
                    .await
                    .map_err(|_| self.unreachable(format!("no answer within {:?}", self.timeout)))??
            }
        };
        if (200..300).contains(&status) {
            return Ok(answer);
        }
        let text = |field: &str| answer["error"][field].as_str().unwrap_or_default().to_owned();
        let mut message = text("message");
        for mention in answer["error"]["mentions"].as_array().into_iter().flatten() {
            message.push_str(&format!(
                "\n  {}",
                mention["message"].as_str().unwrap_or_default()
            ));
        }
        Err(RemoteError::Api {
            status,
            code: text("code"),
            message,
        })
    }

    /// Runs a command on the daemon (`/v1/admin/run`).
    pub async fn run(&self, request: &Request) -> Result<Response, RemoteError> {
        let body = serde_json::to_value(request).expect("a request serializes");
        let answer = self.call(Method::POST, "/v1/admin/run", Some(&body)).await?;
        serde_json::from_value(answer)
            .map_err(|e| self.unreachable(format!("an answer that is not a command's result ({e})")))
    }

    async fn over_http(
        &self,
        url: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), RemoteError> {
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .build()
            .expect("a client builds");
        let mut request = client.request(method, format!("{url}{path}"));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.unreachable(crate::slack::describe(e)))?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    async fn over_socket(
        &self,
        socket: &Path,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), RemoteError> {
        let failed = |e: &dyn std::fmt::Display| self.unreachable(e.to_string());
        let stream = tokio::net::UnixStream::connect(socket).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => self.unreachable(
                "permission denied: the socket is for the daemon's user and, with `daemon --admin-group GROUP`, that group's members; ask to be added to it".to_owned(),
            ),
            std::io::ErrorKind::ConnectionRefused => {
                self.unreachable("no daemon listens on it (one that stopped left it behind)".to_owned())
            }
            _ => failed(&e),
        })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| failed(&e))?;
        tokio::spawn(connection);
        let bytes = body.map(|b| serde_json::to_vec(b).expect("a body serializes"));
        let mut call = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "hookwarden");
        if let Some(token) = &self.token {
            call = call.header("authorization", format!("Bearer {}", token.expose()));
        }
        if bytes.is_some() {
            call = call.header("content-type", "application/json");
        }
        let call = call
            .body(Full::new(bytes::Bytes::from(bytes.unwrap_or_default())))
            .expect("a valid request");
        let answer = sender.send_request(call).await.map_err(|e| failed(&e))?;
        let status = answer.status().as_u16();
        let bytes = answer
            .into_body()
            .collect()
            .await
            .map_err(|e| failed(&e))?
            .to_bytes();
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| self.unreachable(format!("an answer that is not a command's result ({e})")))?;
        Ok((status, value))
    }
}
