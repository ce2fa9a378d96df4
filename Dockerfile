# syntax=docker/dockerfile:1
#
# keel container image: the `keel` binary on Debian bookworm-slim, run as the unprivileged
# user `keel` (uid/gid 10001). All state lives in the volume /var/lib/keel.
#
#   docker build -t keel .
#   docker run -d -p 8080:8080 -v keel-data:/var/lib/keel --read-only --tmpfs /tmp keel
#
# See docs/operations.md, "Running in a container".

# ---- build --------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS build
WORKDIR /src

COPY Cargo.toml Cargo.lock ./
COPY crates ./crates

# The registry, git checkouts and target/ are cache mounts: they persist between builds on
# the same builder but are not part of any image layer, so the binary is copied out of
# target/ within the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p keel-server --bin keel \
    && install -D -m 0755 target/release/keel /out/keel

# ---- runtime ------------------------------------------------------------------------------
FROM debian:bookworm-slim

# ca-certificates: keel verifies TLS (SMTP, webhooks, chat, SMS, IMAP, CalDAV, AI providers)
# against the system's trust store.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid, so a volume's ownership means the same thing in every container.
RUN groupadd --system --gid 10001 keel \
    && useradd --system --uid 10001 --gid keel --home-dir /var/lib/keel --no-create-home \
        --shell /usr/sbin/nologin keel \
    && install -d -o keel -g keel -m 0700 /var/lib/keel

COPY --from=build /out/keel /usr/local/bin/keel

LABEL org.opencontainers.image.title="keel" \
      org.opencontainers.image.description="OpenAlert (incident response) and MindfulCRM (relationship CRM) in one server" \
      org.opencontainers.image.licenses="AGPL-3.0-only"

# The data directory holds keel.db, secret.key and mail/ on an embedded (SQLite) install.
# A keel.toml placed in it is read as well, since it is also the working directory.
ENV KEEL_DATA_DIR=/var/lib/keel \
    KEEL_LISTEN=0.0.0.0:8080
WORKDIR /var/lib/keel
VOLUME /var/lib/keel
USER 10001:10001
EXPOSE 8080

# `keel healthcheck` asks /readyz on the configured listen address: exit 0 when ready, 1 when not.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["keel", "healthcheck"]

# SIGTERM: keel stops accepting connections, finishes running requests and jobs, then exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["keel"]
CMD ["serve"]
