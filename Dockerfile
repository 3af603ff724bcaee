# Signal Fish server image: built with the Rust toolchain image, run on Debian slim as a
# non-root user. The build is `cargo build --release --locked`, the release build CI runs,
# so the image holds what CI built and Cargo.lock pins.
#
#   docker build -t signal-fish .
#   docker run -p 3536:3536 signal-fish
#   docker run -p 3536:3536 -v ./config.json:/app/config.json:ro signal-fish
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p signal-fish-server \
    && cp target/release/signal-fish-server /usr/local/bin/signal-fish-server

FROM debian:bookworm-slim
# curl for the health check only.
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin signalfish \
    && mkdir -p /app \
    && chown signalfish /app
COPY --from=build /usr/local/bin/signal-fish-server /usr/local/bin/signal-fish-server
WORKDIR /app
USER signalfish
# The server reads ./config.json when there is one: mount yours at /app/config.json.
# Logs go to stdout (the container's log); no log files inside the container.
ENV SIGNAL_FISH_LOGGING__ENABLE_FILE_LOGGING=false
EXPOSE 3536
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD curl -fsS http://127.0.0.1:3536/v2/health || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["signal-fish-server"]
