# syntax=docker/dockerfile:1
# The fidelis binary in a slim image, run as a non-root user.
#
#   docker build --build-arg FIDELIS_GIT_COMMIT=$(git rev-parse --short=12 HEAD) -t fidelis .
#   docker run --rm -e AWS_REGION -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY \
#     -v "$PWD/jobs:/jobs:ro" fidelis run --config /jobs/s3-production.toml --run-date 2026-11-22
#
# RUST_VERSION must equal `rust-version` in Cargo.toml (a test checks it).
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
# The commit for `fidelis --version` and the manifests (.git is not copied).
ARG FIDELIS_GIT_COMMIT="unknown commit"
ENV FIDELIS_GIT_COMMIT=${FIDELIS_GIT_COMMIT}
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin fidelis

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home fidelis
COPY --from=build /src/target/release/fidelis /usr/local/bin/fidelis
USER fidelis
WORKDIR /home/fidelis
ENTRYPOINT ["fidelis"]
