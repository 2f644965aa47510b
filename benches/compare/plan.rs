//! 1. `hookwarden plan` over N encrypted webhooks, against decrypting the same values
//!    one by one with the age CLI in a shell loop.

use crate::fixture::Workdir;
use crate::measure::{Sample, medians, mib, run, seconds};
use crate::report::Report;

pub fn bench(report: &mut Report, sizes: &[usize], runs: usize) {
    report.section("1. `plan` against an age CLI loop");
    report.line("Whole-process wall time and peak RSS, medians; the plan is against an empty state, so every webhook is a create.");
    report.table(&[
        "webhooks",
        "hookwarden plan",
        "peak RSS",
        "age loop",
        "peak RSS",
        "age loop / plan",
    ]);
    for &size in sizes {
        let work = Workdir::new();
        let urls = work.config("hookwarden.yaml", size, false);
        let values = work.path("values");
        std::fs::create_dir(&values).expect("a folder");
        for (i, url) in urls.iter().enumerate() {
            std::fs::write(values.join(format!("{i:06}.age")), work.seal(url)).expect("a value");
        }
        let plan = work.hookwarden(&["plan", "-c", "hookwarden.yaml"], None);
        let mut age_loop = std::process::Command::new("sh");
        age_loop
            .args([
                "-c",
                "for f in values/*.age; do age -d -i identity.txt \"$f\" || exit 1; done",
            ])
            .current_dir(work.dir.path());
        // Interleaved, so that drift on a shared machine touches both alike.
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            ours.push(run(&plan, work.dir.path()));
            theirs.push(run(&age_loop, work.dir.path()));
        }
        let (ours, theirs): (Sample, Sample) = (medians(&ours), medians(&theirs));
        report.row(&[
            size.to_string(),
            seconds(ours.wall),
            mib(ours.peak_kib),
            seconds(theirs.wall),
            mib(theirs.peak_kib),
            format!("{:.0}×", theirs.wall.as_secs_f64() / ours.wall.as_secs_f64()),
        ]);
    }
}
