//! Calling a command with the context it runs in: here, with this machine's files and
//! terminal; or in the daemon, for another process, with what the daemon lends and the
//! caller sent ([`execute`], the runner the `daemon` command hands the daemon).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::sync::Arc;

use clap::Parser;

use super::args::{Cli, Command};
use crate::commands::{self, Context, Files, Terminal};
use crate::error::{Error, Exit, describe};
use crate::remote::{Lent, Request, Response};

/// Runs `cli`'s command here.
pub(super) fn local(cli: &Cli) -> Result<Exit, Error> {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr());
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut ctx = Context {
        config: cli.global.config.clone(),
        state_dir: cli.global.state_dir(),
        state_named: cli.global.state_named(),
        postgres: cli.global.postgres().map(str::to_owned),
        identity: cli.global.identity.clone(),
        format: cli.global.format,
        actor: crate::actor::local(),
        lent: None,
        files: Files::Local,
        terminal: Terminal::Local,
        color,
        out: &mut out,
        err: &mut err,
    };
    // Not locked for the whole run: a command that asks reads its answer from it too.
    run_in(&cli.command, &mut ctx, &mut std::io::stdin())
}

/// In the daemon: runs `request` with what the daemon lends, as the caller would have
/// run it, and answers with its output, exit code and written files.
pub fn execute(request: Request, lent: Lent) -> Response {
    let cli = match Cli::try_parse_from(std::iter::once("hookwarden".to_owned()).chain(request.args)) {
        Ok(cli) => cli,
        Err(error) => return Response::refused(error.render().to_string()),
    };
    if !cli.command.is_forwarded() {
        return Response::refused(
            "error: the daemon runs only plan, apply, status, history, directory and render for others\n"
                .to_owned(),
        );
    }
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let mut ctx = Context {
        config: request.config,
        state_dir: lent.store.dir().to_owned(),
        state_named: true,
        postgres: None,
        identity: None,
        format: request.format,
        actor: crate::actor::forwarded(request.actor.as_deref(), lent.via),
        lent: Some(lent),
        files: Files::Sent {
            given: request.files,
            written: BTreeMap::new(),
        },
        terminal: Terminal::Caller {
            is_terminal: request.terminal,
        },
        color: false,
        out: &mut stdout,
        err: &mut stderr,
    };
    // A forwarded command never reads the daemon's standard input.
    let result = run_in(&cli.command, &mut ctx, &mut std::io::empty());
    let files = match ctx.files {
        Files::Sent { written, .. } => written,
        Files::Local => BTreeMap::new(),
    };
    let exit = match result {
        Ok(exit) => exit.code(),
        Err(error) => {
            stderr.extend_from_slice(describe(&error).as_bytes());
            1
        }
    };
    Response {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        exit,
        files,
    }
}

fn run_in(command: &Command, ctx: &mut Context<'_>, stdin: &mut dyn Read) -> Result<Exit, Error> {
    use commands::{
        alerts, apply, daemon, directory, encrypt, history, plan, render, routes, status, store, updatekeys,
        validate,
    };
    match command {
        Command::Validate => validate::run(ctx),
        Command::Encrypt(args) => encrypt::run(ctx, args, stdin),
        Command::Updatekeys(args) => updatekeys::run(ctx, args),
        Command::Plan(args) => plan::run(ctx, args),
        Command::Apply(args) => apply::run(ctx, args),
        Command::Status => status::run(ctx),
        Command::History(args) => history::run(ctx, args),
        Command::Directory(command) => directory::run(ctx, command),
        Command::Daemon(args) => daemon::run(ctx, args, Arc::new(execute)),
        Command::Send(args) => alerts::send(ctx, args),
        Command::Alerts(command) => alerts::alerts(ctx, command),
        Command::Routes(command) => routes::run(ctx, command),
        Command::Render(args) => render::run(ctx, args),
        Command::Store(command) => store::run(ctx, command),
        Command::Schema => {
            let schema =
                serde_json::to_string_pretty(&crate::config::raw::schema()).expect("a schema serializes");
            ctx.print(&format!("{schema}\n"))?;
            Ok(Exit::Success)
        }
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::scoped(), "hookwarden", ctx.out);
            Ok(Exit::Success)
        }
        Command::Man { out_dir } => {
            man_pages(out_dir.as_deref(), ctx.out).map_err(Error::Output)?;
            Ok(Exit::Success)
        }
    }
}

fn man_pages(out_dir: Option<&Path>, out: &mut dyn Write) -> std::io::Result<()> {
    let command = Cli::scoped();
    let Some(dir) = out_dir else {
        return page(command, true, out);
    };
    std::fs::create_dir_all(dir)?;
    sub_pages(&command, "hookwarden", dir)?;
    page(
        command,
        true,
        &mut std::fs::File::create(dir.join("hookwarden.1"))?,
    )
}

/// A page for each command under `command`, nested ones too (`hookwarden-directory-sync.1`).
fn sub_pages(command: &clap::Command, name: &str, dir: &Path) -> std::io::Result<()> {
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("{name}-{}", sub.get_name());
        let mut file = std::fs::File::create(dir.join(format!("{name}.1")))?;
        page(sub.clone().name(name.clone()), false, &mut file)?;
        sub_pages(sub, &name, dir)?;
    }
    Ok(())
}

/// clap's page, then what every page says: exit status and environment; the top page
/// also examples.
fn page(command: clap::Command, top: bool, out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(command).render(out)?;
    out.write_all(MAN_EXIT_AND_ENVIRONMENT.as_bytes())?;
    if top {
        out.write_all(MAN_EXAMPLES.as_bytes())?;
    }
    Ok(())
}

const MAN_EXIT_AND_ENVIRONMENT: &str = r#".SH "EXIT STATUS"
0 on success; 1 on any error, including a usage error and a file with problems; 2 when \fBplan \-\-detailed\-exitcode\fR finds changes.
.SH ENVIRONMENT
.TP
\fBHOOKWARDEN_CONFIG\fR
The desired\-state file (\fB\-c\fR).
.TP
\fBHOOKWARDEN_STATE_DIR\fR, \fBSTATE_DIRECTORY\fR
The state directory (\fB\-\-state\fR; systemd's, else .hookwarden).
.TP
\fBHOOKWARDEN_STORE\fR, \fBHOOKWARDEN_STORE_PASSWORD_FILE\fR, \fBPGPASSWORD\fR
The store (\fB\-\-store\fR: sled:DIR or postgres://USER@HOST/DB) and the PostgreSQL password.
.TP
\fBHOOKWARDEN_AGE_KEY\fR, \fBHOOKWARDEN_IDENTITY\fR, \fBCREDENTIALS_DIRECTORY\fR
The age identity: the key itself, a path, or systemd's credential \fBage\-identity\fR; else ~/.config/hookwarden/identity.txt.
.TP
\fBHOOKWARDEN_API_TOKEN_FILE\fR, \fBHOOKWARDEN_ADMIN_TOKEN_FILE\fR
Files holding the daemon's API token and admin token.
.TP
\fBHOOKWARDEN_REMOTE\fR, \fBHOOKWARDEN_LISTEN\fR
The daemon to run commands on (\fB\-\-remote\fR), and where it listens.
.TP
\fBHOOKWARDEN_ADMIN_SOCKET\fR, \fBRUNTIME_DIRECTORY\fR, \fBHOOKWARDEN_ADMIN_GROUP\fR
The daemon's admin socket the CLI uses when no state is named (default /run/hookwarden/admin.sock); the daemon's second socket, in systemd's runtime directory; the group given the sockets.
.TP
\fBHOOKWARDEN_FORMAT\fR, \fBHOOKWARDEN_LOG_FORMAT\fR, \fBRUST_LOG\fR, \fBNO_COLOR\fR
Output and log formats, the log level, and no colour.
"#;

const MAN_EXAMPLES: &str = r".SH EXAMPLES
.nf
hookwarden validate
hookwarden plan \-\-out plan.json
hookwarden apply plan.json
hookwarden routes test team=finops severity=critical
hookwarden render \-\-alertmanager notification.json
hookwarden daemon
.fi
";
