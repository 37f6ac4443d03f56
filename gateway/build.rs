//! Names the commit the gateway is built from (`pes_build_info{commit=...}`): `PES_BUILD_COMMIT`
//! when set (packaging from a tarball), else `git rev-parse HEAD`, else `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=PES_BUILD_COMMIT");
    let commit = std::env::var("PES_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=PES_BUILD_COMMIT={commit}");
    // Rebuilt when HEAD moves: HEAD itself (checkout) and the branch it points to (commit).
    // Only files that exist are named: a missing one would rerun this script on every build.
    let mut watch = vec!["HEAD".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.push(branch);
        watch.push("packed-refs".into());
    }
    for name in watch {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            if std::path::Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
}
