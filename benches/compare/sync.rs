//! 6. Directory sync of many users from the fake Slack.

use serde_json::json;

use crate::fake_slack::{FakeSlack, Hook, Script, TokenScript, hook_path};
use crate::fixture::{TOKEN, Workdir};
use crate::measure::{medians, mib, run, seconds};
use crate::report::Report;

/// Slack's recommended page size, which hookwarden asks for.
const PAGE: usize = 200;

pub fn bench(report: &mut Report, users: usize, runs: usize) {
    report.section(&format!("8. Directory sync of {users} users"));
    report.line(&format!(
        "`hookwarden directory sync` against the fake Slack: `users.list` in pages of {PAGE} by cursor, then `usergroups.list` (100 groups); whole-process wall time and peak RSS, medians."
    ));
    let work = Workdir::new();
    let urls = work.config("hookwarden.yaml", 1, true);
    let slack = FakeSlack::start(workspace(users, &hook_path(&urls[0])));
    let origin = slack.origin();
    let applied = work
        .hookwarden(
            &["apply", "-c", "hookwarden.yaml", "--auto-approve"],
            Some(&origin),
        )
        .output()
        .expect("apply runs");
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let sync = work.hookwarden(&["directory", "sync", "-c", "hookwarden.yaml"], Some(&origin));
    let samples: Vec<_> = (0..runs).map(|_| run(&sync, work.dir.path())).collect();
    let sample = medians(&samples);
    report.table(&["users", "wall time", "peak RSS"]);
    report.row(&[users.to_string(), seconds(sample.wall), mib(sample.peak_kib)]);
}

fn workspace(users: usize, hook: &str) -> Script {
    let scopes = ["users:read", "users:read.email", "usergroups:read"]
        .map(str::to_owned)
        .to_vec();
    let token = TokenScript {
        team_id: "T0BENCH00".into(),
        team: "Bench Co".into(),
        scopes,
        error: None,
    };
    let members: Vec<_> = (0..users)
        .map(|i| {
            json!({
                "id": format!("U{i:08}"), "team_id": "T0BENCH00", "name": format!("user{i}"), "deleted": false,
                "real_name": format!("User {i}"), "is_bot": false,
                "profile": {"display_name": format!("User {i}"), "real_name": format!("User {i}"), "email": format!("user{i}@example.invalid")}
            })
        })
        .collect();
    let groups = (0..100)
        .map(|g| {
            let users: Vec<String> = (g * 10..g * 10 + 10).map(|i| format!("U{i:08}")).collect();
            json!({"id": format!("S{g:08}"), "team_id": "T0BENCH00", "handle": format!("team-{g}"), "name": format!("Team {g}"), "date_delete": 0, "users": users})
        })
        .collect();
    Script {
        tokens: [(TOKEN.to_owned(), token)].into(),
        user_pages: members.chunks(PAGE).map(<[_]>::to_vec).collect(),
        groups,
        hooks: [(hook.to_owned(), Hook::Live)].into(),
        ..Script::default()
    }
}
