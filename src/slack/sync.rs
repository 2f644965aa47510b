//! Directory sync: every user (`users.list`, paginated by cursor) and every user group
//! with its members (`usergroups.list`, not paginated), deleted users and disabled
//! groups left out.

use super::{Client, SlackError, parse, wire};
use crate::directory::Directory;
use crate::secrets::Secret;

/// Slack's recommended page size for `users.list`.
const PAGE_SIZE: &str = "200";

/// How far a sync has got, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub users: usize,
    pub pages: usize,
}

/// Reads the whole directory. Nothing is stored here: the caller replaces the stored
/// directory only once this returns, so a sync that fails half-way keeps the old one.
pub async fn sync_directory(
    client: &Client,
    token: &Secret,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Directory, SlackError> {
    let mut directory = Directory::default();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let mut query = vec![("limit", PAGE_SIZE)];
        if !cursor.is_empty() {
            query.push(("cursor", cursor.as_str()));
        }
        let (body, _) = client.web_api("users.list", token, &query).await?;
        let page: wire::UsersPage = parse("users.list", body)?;
        directory
            .users
            .extend(page.members.into_iter().filter_map(wire::Member::into_user));
        pages += 1;
        progress(Progress {
            users: directory.users.len(),
            pages,
        });
        cursor = page.response_metadata.map(|m| m.next_cursor).unwrap_or_default();
        if cursor.is_empty() {
            break;
        }
    }
    let (body, _) = client
        .web_api("usergroups.list", token, &[("include_users", "true")])
        .await?;
    let groups: wire::UserGroups = parse("usergroups.list", body)?;
    directory.groups = groups
        .usergroups
        .into_iter()
        .filter_map(wire::UserGroup::into_group)
        .collect();
    directory.users.sort_by(|a, b| a.name.cmp(&b.name));
    directory.groups.sort_by(|a, b| a.handle.cmp(&b.handle));
    Ok(directory)
}
