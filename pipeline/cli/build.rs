//! Bakes the commit the binary was built from into `fidelis --version`
//! and every manifest's `code_version`: `FIDELIS_GIT_COMMIT` when set (the
//! Dockerfile passes it as a build argument, since `.git` is not copied
//! into the image), else `git rev-parse`, else "unknown commit".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=FIDELIS_GIT_COMMIT");
    let commit = std::env::var("FIDELIS_GIT_COMMIT")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
                .filter(|s| !s.is_empty())
        });
    let commit = commit.unwrap_or_else(|| "unknown commit".to_string());
    println!("cargo:rustc-env=FIDELIS_GIT_COMMIT={commit}");
    // Rebuild the version string when HEAD moves (a new commit or checkout).
    println!("cargo:rerun-if-changed=.git/HEAD");
    if let Ok(head) = std::fs::read_to_string(".git/HEAD")
        && let Some(r) = head.trim().strip_prefix("ref: ")
    {
        println!("cargo:rerun-if-changed=.git/{r}");
    }
}
