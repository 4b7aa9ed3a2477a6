//! The Dockerfile cannot be built here (no Docker engine), so check what can
//! drift: its Rust version and binary name against the workspace.

use crate::support::repo;

#[test]
fn dockerfile_matches_the_workspace() {
    let docker = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).expect("Cargo.toml");
    let rust_version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version in Cargo.toml")
        .trim_matches('"');
    assert!(
        docker.contains(&format!("ARG RUST_VERSION={rust_version}\n")),
        "the Dockerfile builds with another Rust than {rust_version}"
    );
    let bin = env!("CARGO_BIN_EXE_fidelis")
        .rsplit('/')
        .next()
        .expect("binary name");
    assert!(docker.contains(&format!("--bin {bin}")), "build of `{bin}`");
    assert!(docker.contains(&format!("target/release/{bin} /usr/local/bin/{bin}")));
    assert!(docker.contains(&format!("ENTRYPOINT [\"{bin}\"]")));
    assert!(docker.contains("USER fidelis"), "runs as non-root");
    assert!(
        docker.contains("FROM debian:bookworm-slim"),
        "slim runtime image"
    );
}

/// Every example config in jobs/ loads, and the DAG's container example
/// points at one that exists.
#[test]
fn example_job_configs_load() {
    let jobs = repo().join("jobs");
    let mut n = 0;
    for entry in std::fs::read_dir(&jobs).expect("jobs/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let o = crate::support::run(&["settings", "--config", path.to_str().expect("utf8")]);
            assert!(
                o.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            let s: serde_json::Value = serde_json::from_slice(&o.stdout).expect("settings json");
            assert!(
                s["exports"]["audiences"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
            );
            n += 1;
        }
    }
    assert!(n >= 2, "expected the local and the production examples");
    let dag = std::fs::read_to_string(jobs.join("airflow/fidelis_nightly.py")).expect("DAG");
    assert!(dag.contains("\"/jobs/s3-production.toml\""));
    assert!(jobs.join("s3-production.toml").exists());
    // The DAG's stages are the binary's subcommands, in the order `run` chains them.
    let help = crate::support::run(&["--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for stage in [
        "validate", "features", "train", "score", "export", "report", "publish",
    ] {
        assert!(dag.contains(&format!("\"{stage}\"")), "DAG misses {stage}");
        assert!(
            help.contains(&format!("  {stage} ")),
            "no subcommand {stage}"
        );
    }
}
