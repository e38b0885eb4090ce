# syntax=docker/dockerfile:1
# Both services' images, from one build. One target per service:
#   docker build --target inventory-service -t inventory-service .
#   docker build --target order-service -t order-service .
# (docker-compose.yml builds both.) The two services share nearly every
# dependency, so one builder stage compiles the dependencies once and both
# binaries in one `cargo build`; the second target's build finds every stage
# up to the binaries in the cache.
#
# cargo-chef splits the build so that the dependency layer (every crate from
# crates.io) is cached and only rebuilt when Cargo.lock or a manifest
# changes; a code change recompiles the workspace crates only. No protoc is
# needed: protox compiles the protos inside the build.

FROM rust:1.95-bookworm AS chef
# A debug build of cargo-chef: it only reads manifests and runs cargo, and it
# compiles in a third of the time of a release build.
RUN cargo install cargo-chef --locked --version ^0.1 --debug
WORKDIR /src
# The images ship stripped binaries: no line tables (the workspace's release
# profile keeps them for local builds) and no symbol table; 13 MB instead of
# 80. They are optimised across crates as one unit (fat LTO, one codegen
# unit): 8% fewer instructions per order, for a longer build (about twice
# as long after a change; local release builds skip it, see
# docs/operations.md). Set for the cook and the build alike, so that the
# cooked dependencies are the ones the build uses.
ENV CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_PROFILE_RELEASE_LTO=fat \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# Build settings for the dependencies too (SQLite's compile-time options).
COPY .cargo .cargo
RUN cargo chef cook --release --locked --recipe-path recipe.json \
      --package inventory-service --package order-service
# Only what cargo reads: a change to the page, the docs or the tests outside
# the crates does not recompile anything.
COPY Cargo.toml Cargo.lock ./
COPY proto proto
COPY support support
COPY live live
COPY inventory-service inventory-service
COPY order-service order-service
COPY launcher launcher
COPY bench bench
# The commit /actuator/info reports (support/build.rs asks git, but .git is
# not in the build context): `GIT_COMMIT=$(git rev-parse --short=7 HEAD)
# docker compose build` passes it on; without it, `unknown`. Declared after
# the cook, so a new commit does not rebuild the dependencies.
ARG GIT_COMMIT=unknown
RUN cargo build --release --locked --package inventory-service --package order-service

# What both images run on: a non-root user and a writable data directory
# (the SQLite default, unused with PostgreSQL).
FROM debian:bookworm-slim AS runtime
RUN useradd --system --uid 10001 --home-dir /app app \
 && mkdir -p /app/data && chown app /app/data
WORKDIR /app

FROM runtime AS inventory-service
COPY --from=builder /src/target/release/inventory-service /usr/local/bin/inventory-service
USER app
ENV DATABASE_URL=sqlite:///app/data/inventory.db \
    LOG_FORMAT=json
EXPOSE 8081 9091
# The binary checks itself: no curl or grpc tools in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/inventory-service", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/inventory-service"]

FROM runtime AS order-service
COPY --from=builder /src/target/release/order-service /usr/local/bin/order-service
# order-service serves the page on 8080 as well.
COPY frontend /app/frontend
USER app
ENV DATABASE_URL=sqlite:///app/data/orders.db \
    FRONTEND_DIR=/app/frontend \
    LOG_FORMAT=json
EXPOSE 8080 9090
# The binary checks itself: no curl in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/order-service", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/order-service"]
