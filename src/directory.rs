//! The Slack directory (users and user groups) and how a mention resolves against it.
//!
//! Pure: the rules live here once, for `plan`, `directory resolve` and the alert
//! endpoint. A mention, with or without a leading `@` and in any case, is `here`,
//! `channel` or `everyone`, a user's email, or a user's handle or display name or a
//! group's handle. Handles come before display names (handles are unique in a
//! workspace, display names are not); more than one match at the same rank is an
//! error that lists the candidates, so an alert never pings the wrong person.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    /// The handle (`jane.doe`).
    pub name: String,
    pub display_name: String,
    pub real_name: String,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    /// The handle (`finops-team`).
    pub handle: String,
    pub name: String,
    /// Member user ids.
    pub users: Vec<String>,
}

/// What a mention resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    User(String),
    Group(String),
    Here,
    Channel,
    Everyone,
}

impl Target {
    /// The form Slack turns into a notification: `<@U…>`, `<!subteam^S…>`, `<!here>`.
    pub fn slack(&self) -> String {
        match self {
            Target::User(id) => format!("<@{id}>"),
            Target::Group(id) => format!("<!subteam^{id}>"),
            Target::Here => "<!here>".to_owned(),
            Target::Channel => "<!channel>".to_owned(),
            Target::Everyone => "<!everyone>".to_owned(),
        }
    }
}

/// Why a mention did not resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// Nobody matches; `suggestions` are close names that do.
    Unknown { suggestions: Vec<String> },
    /// Several match at the same rank; each candidate is described for a person.
    Ambiguous { candidates: Vec<String> },
}

impl Unresolved {
    /// One line for a person: what is wrong and what to write instead.
    pub fn describe(&self, mention: &str) -> String {
        match self {
            Unresolved::Unknown { suggestions } if suggestions.is_empty() => {
                format!("`{mention}` matches no user or group in the Slack directory")
            }
            Unresolved::Unknown { suggestions } => format!(
                "`{mention}` matches no user or group in the Slack directory; did you mean {}?",
                suggestions
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            Unresolved::Ambiguous { candidates } => {
                format!("`{mention}` is ambiguous: it matches {}", candidates.join(", "))
            }
        }
    }
}

/// A directory indexed for resolution: built once, asked many times.
#[derive(Debug, Default)]
pub struct Index {
    directory: Directory,
    /// Lower-cased handle or group handle -> targets.
    handles: HashMap<String, Vec<Entry>>,
    display_names: HashMap<String, Vec<Entry>>,
    emails: HashMap<String, Vec<Entry>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    User(usize),
    Group(usize),
}

impl Index {
    /// How many users and groups the directory holds.
    pub fn counts(&self) -> (usize, usize) {
        (self.directory.users.len(), self.directory.groups.len())
    }

    pub fn new(directory: Directory) -> Self {
        let mut index = Index {
            directory,
            handles: HashMap::new(),
            display_names: HashMap::new(),
            emails: HashMap::new(),
        };
        let directory = &index.directory;
        for (i, user) in directory.users.iter().enumerate() {
            add(&mut index.handles, &user.name, Entry::User(i));
            add(&mut index.display_names, &user.display_name, Entry::User(i));
            if let Some(email) = &user.email {
                add(&mut index.emails, email, Entry::User(i));
            }
        }
        for (i, group) in directory.groups.iter().enumerate() {
            add(&mut index.handles, &group.handle, Entry::Group(i));
        }
        index
    }

    pub fn resolve(&self, mention: &str) -> Result<Target, Unresolved> {
        let key = mention.trim().trim_start_matches('@').to_lowercase();
        match key.as_str() {
            "here" => return Ok(Target::Here),
            "channel" => return Ok(Target::Channel),
            "everyone" => return Ok(Target::Everyone),
            _ => {}
        }
        let ranks: &[&HashMap<String, Vec<Entry>>] = if key.contains('@') {
            &[&self.emails]
        } else {
            &[&self.handles, &self.display_names]
        };
        for rank in ranks {
            match rank.get(&key).map(Vec::as_slice) {
                Some([entry]) => return Ok(self.target(*entry)),
                Some(entries) if entries.len() > 1 => {
                    return Err(Unresolved::Ambiguous {
                        candidates: entries.iter().map(|e| self.describe(*e)).collect(),
                    });
                }
                _ => {}
            }
        }
        Err(Unresolved::Unknown {
            suggestions: self.suggestions(&key),
        })
    }

    fn target(&self, entry: Entry) -> Target {
        match entry {
            Entry::User(i) => Target::User(self.directory.users[i].id.clone()),
            Entry::Group(i) => Target::Group(self.directory.groups[i].id.clone()),
        }
    }

    fn describe(&self, entry: Entry) -> String {
        match entry {
            Entry::User(i) => {
                let user = &self.directory.users[i];
                format!("user @{} ({}, {})", user.name, user.real_name, user.id)
            }
            Entry::Group(i) => {
                let group = &self.directory.groups[i];
                format!("group @{} ({}, {})", group.handle, group.name, group.id)
            }
        }
    }

    /// Up to three handles or display names close to `key`.
    fn suggestions(&self, key: &str) -> Vec<String> {
        let mut scored: Vec<(f64, &String)> = self
            .handles
            .keys()
            .chain(self.display_names.keys())
            .map(|name| (strsim::jaro_winkler(key, name), name))
            .filter(|(score, _)| *score > 0.85)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        scored.dedup_by(|a, b| a.1 == b.1);
        scored
            .into_iter()
            .take(3)
            .map(|(_, name)| format!("@{name}"))
            .collect()
    }
}

fn add(map: &mut HashMap<String, Vec<Entry>>, key: &str, entry: Entry) {
    let key = key.trim().to_lowercase();
    if !key.is_empty() {
        let entries = map.entry(key).or_default();
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, name: &str, display: &str, email: Option<&str>) -> User {
        User {
            id: id.into(),
            name: name.into(),
            display_name: display.into(),
            real_name: format!("Real {name}"),
            email: email.map(Into::into),
        }
    }

    fn directory() -> Directory {
        Directory {
            users: vec![
                user("U001", "jane.doe", "Jane", Some("jane.doe@example.com")),
                user("U002", "john", "Johnny", Some("John@Example.com")),
                user("U003", "sam", "Sam", None),
                user("U004", "samantha", "Sam", None),
                user("U005", "ops", "Operator", None),
            ],
            groups: vec![
                Group {
                    id: "S001".into(),
                    handle: "finops-team".into(),
                    name: "FinOps".into(),
                    users: vec!["U001".into()],
                },
                Group {
                    id: "S002".into(),
                    handle: "ops".into(),
                    name: "Ops".into(),
                    users: vec![],
                },
            ],
        }
    }

    #[test]
    fn resolution_rules() {
        let directory = directory();
        let index = Index::new(directory.clone());
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("@jane.doe", Ok("<@U001>")),
            ("jane.doe", Ok("<@U001>")),
            ("@JANE.DOE", Ok("<@U001>")),
            ("Johnny", Ok("<@U002>")),
            ("john@example.com", Ok("<@U002>")),
            ("@jane.doe@example.com", Ok("<@U001>")),
            ("@finops-team", Ok("<!subteam^S001>")),
            ("@FinOps-Team", Ok("<!subteam^S001>")),
            ("here", Ok("<!here>")),
            ("@channel", Ok("<!channel>")),
            ("@everyone", Ok("<!everyone>")),
            ("@sam", Ok("<@U003>")),
            (
                "@ops",
                Err("`@ops` is ambiguous: it matches user @ops (Real ops, U005), group @ops (Ops, S002)"),
            ),
            (
                "@nobody",
                Err("`@nobody` matches no user or group in the Slack directory"),
            ),
            (
                "@finops-tem",
                Err(
                    "`@finops-tem` matches no user or group in the Slack directory; did you mean `@finops-team`?",
                ),
            ),
            (
                "nobody@example.com",
                Err("`nobody@example.com` matches no user or group in the Slack directory"),
            ),
        ];
        for (mention, expected) in cases {
            let got = index
                .resolve(mention)
                .map(|t| t.slack())
                .map_err(|u| u.describe(mention));
            assert_eq!(
                got.as_ref().map(String::as_str).map_err(String::as_str),
                *expected,
                "{mention}"
            );
        }
    }

    #[test]
    fn display_names_shared_by_two_people_are_ambiguous() {
        let mut directory = directory();
        directory.users.retain(|u| u.id != "U003");
        directory.users.push(user("U006", "samuel", "Sam", None));
        let index = Index::new(directory.clone());
        let error = index.resolve("Sam").expect_err("two display names");
        assert_eq!(
            error.describe("Sam"),
            "`Sam` is ambiguous: it matches user @samantha (Real samantha, U004), user @samuel (Real samuel, U006)"
        );
    }
}
