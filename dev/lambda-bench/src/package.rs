//! Package sizes: each release binary, and the deployment zip cargo-lambda would make of it.

use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context, Result};

use crate::bench::Bench;
use crate::report::megabytes;
use crate::stack::FUNCTIONS;

const ZIP_TARGET: u64 = 3_000_000;

pub fn sizes(bench: &mut Bench) {
    for (name, _) in FUNCTIONS {
        let binary = bench.binary(name);
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
        bench.table.info(
            name,
            "release binary, x86_64 (arm64 not built: no aarch64 target on this machine)",
            megabytes(size),
        );
        match zip_bootstrap(&binary, &bench.work.join("package").join(name)) {
            Ok(zip) => bench.table.target(
                name,
                "deployment zip (`bootstrap`, deflate), x86_64",
                megabytes(zip),
                "≤ 3 MB",
                zip <= ZIP_TARGET,
            ),
            Err(error) => {
                bench
                    .table
                    .info(name, "deployment zip", format!("not measured: {error:#}"))
            }
        }
    }
}

/// Zips `binary` as `bootstrap` in `dir`; the archive's size.
fn zip_bootstrap(binary: &Path, dir: &Path) -> Result<u64> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let bootstrap = dir.join("bootstrap");
    std::fs::copy(binary, &bootstrap).context("copy")?;
    let archive = dir.join("bootstrap.zip");
    // As cargo-lambda packages it: one entry, `bootstrap`, deflated, mode 755.
    let status = Command::new("zip")
        .args(["-q", "-X", "-j"])
        .arg(&archive)
        .arg(&bootstrap)
        .status()
        .context("zip (install the zip package)")?;
    ensure!(status.success(), "zip failed: {status}");
    Ok(std::fs::metadata(&archive)
        .with_context(|| archive.display().to_string())?
        .len())
}
