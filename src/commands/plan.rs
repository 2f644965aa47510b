//! `hookwarden plan`: what apply would change, for people, programs and pull requests.

use std::path::PathBuf;

use clap::Args;

use super::Context;
use crate::error::{Error, Exit};
use crate::planfile::SavedPlan;
use crate::reconcile;
use crate::render::{self, Format};

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Save the plan (ciphertexts only) for `hookwarden apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

pub fn run(ctx: &mut Context<'_>, args: &PlanArgs) -> Result<Exit, Error> {
    let keyring = ctx.keyring("plan")?;
    let store = ctx.open_store("plan")?;
    let (applied, config, desired) = ctx.desired(&keyring, &*store)?;
    let plan = reconcile::plan(&config, &desired, &applied, &*store)?;
    let shown = match ctx.format {
        Format::Text => render::text(&plan, ctx.style()),
        Format::Json => render::json(&plan),
        Format::Markdown => render::markdown(&plan),
    };
    ctx.print(&shown)?;
    if let Some(path) = &args.out {
        ctx.write_plan(path, &SavedPlan::new(&config, &plan))?;
        if ctx.format == Format::Text {
            ctx.print(&format!(
                "\nSaved the plan to {}; apply exactly it with `hookwarden apply {}`.\n",
                path.display(),
                path.display()
            ))?;
        }
    }
    let exit = if args.detailed_exitcode && !plan.is_empty() {
        Exit::Changes
    } else {
        Exit::Success
    };
    super::free_aside((config, desired, applied, plan));
    // A plan writes nothing: a store of this process's own (sled, whose close frees its
    // whole cache) is closed aside too; a database's connections are closed here.
    if !store.shared() {
        super::free_aside(store);
    }
    Ok(exit)
}
