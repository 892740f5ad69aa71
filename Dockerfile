# syntax=docker/dockerfile:1
# The switchyard image: a release build on Debian bookworm, run on distroless (glibc,
# libgcc, CA certificates, nothing else) as a non-root user.
#
#   docker build -t switchyard .
#   docker run --rm -p 3000:3000 -e SWITCHYARD_JWT_SECRET=change-me switchyard
#
# The builder and the runtime must share a glibc: bookworm and distroless `debian12` do.
# Moving the builder to trixie means moving the runtime to `cc-debian13`.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep crates.io downloads and compiled dependencies between builds; the
# binary is copied out in the same step because the target cache is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin switchyard \
    && install -D -m 0755 target/release/switchyard /out/switchyard \
    && install -d -m 0755 /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/switchyard /usr/local/bin/switchyard
# A writable working directory for the default `sqlite://switchyard.db`; in Kubernetes the
# database is PostgreSQL and the root filesystem is read-only (k8s/base/deployment.yaml).
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
USER 65532:65532
# SWITCHYARD_BIND defaults to 0.0.0.0:3000: Socket.IO, the HTTP API, /health/live,
# /health/ready and /metrics all share this port.
EXPOSE 3000
# SIGTERM starts the drain (readiness 503, `server:draining`, exit within
# SWITCHYARD_SHUTDOWN_GRACE_SECS, default 25 s); the binary is PID 1 and handles it itself.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/switchyard"]
# `switchyard serve` by default; `docker run IMAGE migrate` or `IMAGE token --sub alice`
# run the other subcommands, `IMAGE --config /etc/switchyard/switchyard.toml serve` reads
# a settings file.
CMD ["serve"]
