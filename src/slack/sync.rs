//! Directory sync: every user (`users.list`, paginated by cursor) and every user group
//! with its members (`usergroups.list`, not paginated), deleted users and disabled
//! groups left out.

use std::collections::HashSet;
use std::time::Duration;

use super::{Client, SlackError, parse, wire};
use crate::directory::Directory;
use crate::secrets::Secret;

/// Slack's recommended page size for `users.list`.
const PAGE_SIZE: &str = "200";
/// 2,000,000 users: far beyond any workspace, short of forever.
const MAX_PAGES: usize = 10_000;

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
    let mut seen_cursors = HashSet::new();
    let mut cursor = String::new();
    let mut pages = 0;
    // One budget for the whole sync, however many pages it takes.
    let mut waited = Duration::ZERO;
    loop {
        let mut query = vec![("limit", PAGE_SIZE)];
        if !cursor.is_empty() {
            query.push(("cursor", cursor.as_str()));
        }
        let (body, _) = client.web_api("users.list", token, &query, &mut waited).await?;
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
        if pages >= MAX_PAGES || !seen_cursors.insert(cursor.clone()) {
            return Err(SlackError::Unreadable {
                method: "users.list".to_owned(),
                reason: format!(
                    "the pagination does not end (a cursor came twice, or over {MAX_PAGES} pages)"
                ),
            });
        }
    }
    let (body, _) = client
        .web_api(
            "usergroups.list",
            token,
            &[("include_users", "true")],
            &mut waited,
        )
        .await?;
    let groups: wire::UserGroups = parse("usergroups.list", body)?;
    directory.groups = groups
        .usergroups
        .into_iter()
        .filter_map(wire::UserGroup::into_group)
        .collect();
    // A user can come twice when the directory changes during pagination.
    directory
        .users
        .sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    directory.users.dedup_by(|a, b| a.id == b.id);
    directory
        .groups
        .sort_by(|a, b| a.handle.cmp(&b.handle).then_with(|| a.id.cmp(&b.id)));
    directory.groups.dedup_by(|a, b| a.id == b.id);
    Ok(directory)
}
