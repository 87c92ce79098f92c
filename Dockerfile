# syntax=docker/dockerfile:1.7
# Multi-stage build: a full Rust toolchain builds a release binary; the runtime image is
# Debian slim with CA certificates and a non-root user (about 100 MB smaller than the builder).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies and sources together; BuildKit cache mounts keep the registry and target dir
# between builds, so only changed crates recompile.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p jobintel-api \
 && cp target/release/jobintel /usr/local/bin/jobintel

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/jobintel --create-home jobintel
COPY --from=build /usr/local/bin/jobintel /usr/local/bin/jobintel
USER jobintel
WORKDIR /var/lib/jobintel
ENV JOBINTEL_BIND=0.0.0.0:8000 \
    DATABASE_URL=sqlite:///var/lib/jobintel/jobintel.db?mode=rwc \
    JOBINTEL_LOG_FORMAT=json \
    RUST_LOG=info
VOLUME ["/var/lib/jobintel"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["jobintel", "healthcheck"]
# tini forwards SIGTERM so jobintel shuts down gracefully (docker stop).
ENTRYPOINT ["/usr/bin/tini", "--", "jobintel"]
CMD ["serve"]
