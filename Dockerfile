# Build: offline sqlx data (.sqlx/) means no database is needed to compile.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
ENV SQLX_OFFLINE=true
COPY Cargo.toml Cargo.lock build.rs ./
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
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["countersign"]
CMD ["serve"]
