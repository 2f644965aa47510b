//! Bearer tokens read from files, as systemd credentials and CI secrets provide them.

use std::path::PathBuf;

use super::{Secret, SecretsError};

/// Names the file of the token every alert request must carry.
pub const API_TOKEN_FILE: &str = "HOOKWARDEN_API_TOKEN_FILE";
/// Names the file of the token that remote admin (`/v1/admin/run`) needs.
pub const ADMIN_TOKEN_FILE: &str = "HOOKWARDEN_ADMIN_TOKEN_FILE";

/// The token in the file the environment variable `var` names, if it names one.
pub fn token_from_env(var: &str) -> Result<Option<Secret>, SecretsError> {
    let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let path = PathBuf::from(path);
    let text = std::fs::read_to_string(&path).map_err(|source| SecretsError::TokenFile {
        path: path.clone(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(SecretsError::EmptyTokenFile { path });
    }
    Ok(Some(Secret::new(token)))
}
