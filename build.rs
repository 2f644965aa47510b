//! Release builds of the binary on x86_64 Linux hand the linker (LLD, Rust's default
//! there since 1.90) `build/startup.order`: the functions a daemon runs from start to
//! idle, so that they sit side by side instead of across the whole text. The kernel
//! maps code in 64 KiB runs around each page touched; packed, the code an idle daemon
//! has touched is about 2 MiB instead of 8. `build/order` writes the file;
//! `HOOKWARDEN_NO_SYMBOL_ORDER=1` builds without it.

use std::path::Path;
use std::process::Command;

const ORDER: &str = "build/startup.order";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={ORDER}");
    println!("cargo:rerun-if-env-changed=HOOKWARDEN_NO_SYMBOL_ORDER");
    if ordered() {
        let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        let order = Path::new(&manifest).join(ORDER);
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        // Names the build no longer has (a function inlined away, renamed) are passed over.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether the link is a release build by Rust's own LLD, the one linker here known to
/// take the file: anything else links as it would without it.
fn ordered() -> bool {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let wanted = var("PROFILE") == "release"
        && var("HOOKWARDEN_NO_SYMBOL_ORDER").is_empty()
        && Path::new(ORDER).exists();
    let default_linker = var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && std::env::var_os("RUSTC_LINKER").is_none()
        && !var("CARGO_ENCODED_RUSTFLAGS").contains("link");
    wanted && default_linker && rustc_minor().is_some_and(|minor| minor >= 90)
}

/// The minor version of the compiler: `rustc 1.95.0 (…)` gives 95.
fn rustc_minor() -> Option<u32> {
    let rustc = std::env::var_os("RUSTC")?;
    let output = Command::new(rustc).arg("--version").output().ok()?;
    let version = String::from_utf8(output.stdout).ok()?;
    version.split_whitespace().nth(1)?.split('.').nth(1)?.parse().ok()
}
