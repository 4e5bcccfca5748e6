# Build: offline sqlx data (.sqlx/) means no database is needed to compile.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
ENV SQLX_OFFLINE=true
# The dependencies first, in a layer of their own, built against empty
# sources: a change to Countersign's code rebuilds only Countersign.
COPY Cargo.toml Cargo.lock build.rs askama.toml ./
RUN mkdir -p src/bin tests/api migrations \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && echo 'fn main() {}' > src/bin/audit_bench.rs && echo 'fn main() {}' > tests/api/main.rs \
    && cargo build --release --locked --bin countersign \
    && rm -rf src tests target/release/.fingerprint/countersign-* \
              target/release/deps/countersign-* target/release/deps/libcountersign-*
COPY .sqlx .sqlx
COPY src src
COPY migrations migrations
COPY config config
RUN cargo build --release --locked --bin countersign

# Run: a slim image and an unprivileged user. Set DATABASE_URL.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app countersign
WORKDIR /app
COPY --from=build /src/target/release/countersign /usr/local/bin/countersign
COPY config/default.toml config/default.toml
COPY config/production.toml config/local.toml
USER countersign
EXPOSE 8080
# The binary asks its own /readyz: no shell, no curl in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["countersign", "healthcheck"]
ENTRYPOINT ["countersign"]
CMD ["serve"]
