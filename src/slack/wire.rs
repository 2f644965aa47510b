//! Slack's JSON, as it comes over the wire; converted to domain types at the edge.

use serde::Deserialize;

use crate::directory::{Group, User};

#[derive(Debug, Deserialize)]
pub struct AuthTest {
    pub team_id: String,
    pub team: String,
}

#[derive(Debug, Deserialize)]
pub struct UsersPage {
    #[serde(default)]
    pub members: Vec<Member>,
    #[serde(default)]
    pub response_metadata: Option<ResponseMetadata>,
}

#[derive(Debug, Deserialize)]
pub struct ResponseMetadata {
    #[serde(default)]
    pub next_cursor: String,
}

#[derive(Debug, Deserialize)]
pub struct Member {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub real_name: Option<String>,
    #[serde(default)]
    pub profile: Profile,
}

#[derive(Debug, Default, Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub real_name: String,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct UserGroups {
    #[serde(default)]
    pub usergroups: Vec<UserGroup>,
}

#[derive(Debug, Deserialize)]
pub struct UserGroup {
    pub id: String,
    #[serde(default)]
    pub handle: String,
    #[serde(default)]
    pub name: String,
    /// Non-zero once the group was disabled.
    #[serde(default)]
    pub date_delete: i64,
    #[serde(default)]
    pub users: Vec<String>,
}

impl Member {
    /// `None` for a deleted user, who can no longer be mentioned.
    pub fn into_user(self) -> Option<User> {
        if self.deleted {
            return None;
        }
        let real_name = self
            .real_name
            .filter(|n| !n.is_empty())
            .unwrap_or(self.profile.real_name);
        Some(User {
            id: self.id,
            name: self.name,
            display_name: self.profile.display_name,
            real_name,
            email: self.profile.email.filter(|e| !e.is_empty()),
        })
    }
}

impl UserGroup {
    /// `None` for a disabled group.
    pub fn into_group(self) -> Option<Group> {
        (self.date_delete == 0).then_some(Group {
            id: self.id,
            handle: self.handle,
            name: self.name,
            users: self.users,
        })
    }
}
