//! `hookwarden plan`: what apply would change, for people, programs and pull requests.

use std::io::Write;

use crate::cli::{Format, Global, PlanArgs};
use crate::error::{Error, Exit};
use crate::planfile::SavedPlan;
use crate::reconcile;
use crate::render;

pub fn run(global: &Global, args: &PlanArgs, out: &mut dyn Write) -> Result<Exit, Error> {
    let keyring = super::keyring(global, "plan")?;
    let (config, desired) = super::desired(global, &keyring)?;
    let store = super::open_store(global, "plan")?;
    let (_, plan) = reconcile::plan(&config, &desired, &store)?;
    let shown = match global.format {
        Format::Text => render::text(&plan, super::style()),
        Format::Json => render::json(&plan),
        Format::Markdown => render::markdown(&plan),
    };
    out.write_all(shown.as_bytes()).map_err(Error::Output)?;
    if let Some(path) = &args.out {
        let saved = SavedPlan::new(&config, &plan);
        if !super::session::write(path, saved.to_json()) {
            saved.write(path)?;
        }
        if global.format == Format::Text {
            writeln!(
                out,
                "\nSaved the plan to {}; apply exactly it with `hookwarden apply {}`.",
                path.display(),
                path.display()
            )
            .map_err(Error::Output)?;
        }
    }
    Ok(if args.detailed_exitcode && !plan.is_empty() {
        Exit::Changes
    } else {
        Exit::Success
    })
}
