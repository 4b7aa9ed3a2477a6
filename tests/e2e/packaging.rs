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
