//! Release builds of the binary hand the linker `build/startup.order`: the functions a
//! daemon runs from start to idle, so that they sit side by side instead of across the
//! whole text. The kernel maps code in 64 KiB runs around each page touched; packed, the
//! code an idle daemon has touched is about 3 MiB instead of 8. `build/order` writes
//! the file; `HOOKWARDEN_NO_SYMBOL_ORDER=1` builds without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ORDER: &str = "build/startup.order";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-env-changed=HOOKWARDEN_NO_SYMBOL_ORDER");
    println!("cargo:rustc-env=HOOKWARDEN_CONFIG_RULES={:016x}", config_rules());
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let manifest = PathBuf::from(var("CARGO_MANIFEST_DIR"));
    let order = manifest.join(ORDER);
    let wanted = var("PROFILE") == "release"
        && var("HOOKWARDEN_NO_SYMBOL_ORDER").is_empty()
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && order.exists();
    if wanted && linker_takes_an_order() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // Names the build no longer has (a function inlined away, renamed) are passed over.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// A hash of the sources that check a desired-state file and of the versions of what
/// they use (the YAML parsers): a memo of checked entries (`src/config/memo.rs`) written
/// by a build with other checks is not used.
fn config_rules() -> u64 {
    use std::hash::{Hash, Hasher};
    let mut files = vec![PathBuf::from("Cargo.lock")];
    for dir in ["src/config", "src/secrets"] {
        println!("cargo:rerun-if-changed={dir}");
        files.extend(
            std::fs::read_dir(dir)
                .map(|entries| entries.flatten().map(|e| e.path()).collect::<Vec<_>>())
                .unwrap_or_default(),
        );
    }
    println!("cargo:rerun-if-changed=Cargo.lock");
    files.sort();
    let mut hasher = std::hash::DefaultHasher::new();
    for file in files {
        file.hash(&mut hasher);
        std::fs::read(&file).unwrap_or_default().hash(&mut hasher);
    }
    hasher.finish()
}

/// Whether the linker this build uses takes an ordering file (LLD does; GNU ld does not),
/// found by linking an empty program with one, as this build would link.
fn linker_takes_an_order() -> bool {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let out = PathBuf::from(var("OUT_DIR"));
    let (source, order) = (out.join("probe.rs"), out.join("probe.order"));
    if std::fs::write(&source, "fn main() {}\n").is_err() || std::fs::write(&order, "").is_err() {
        return false;
    }
    let mut rustc = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()));
    rustc
        .arg("--crate-type=bin")
        .arg("--target")
        .arg(var("TARGET"))
        .arg("-o")
        .arg(out.join("probe"))
        .arg(format!(
            "-Clink-arg=-Wl,--symbol-ordering-file={}",
            order.display()
        ))
        .args(
            var("CARGO_ENCODED_RUSTFLAGS")
                .split('\x1f')
                .filter(|f| !f.is_empty()),
        );
    if let Some(linker) = std::env::var_os("RUSTC_LINKER") {
        rustc
            .arg("-C")
            .arg(format!("linker={}", Path::new(&linker).display()));
    }
    rustc
        .arg(&source)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
