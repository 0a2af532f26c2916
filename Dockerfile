# missive in a container: build with the Rust image, run from a small Debian one as a
# non-root user. The database (SQLite by default) and its generated key live in the volume
# /var/lib/missive; set DATABASE_URL, SECRET_KEY and REDIS_URL to scale out (see
# docker-compose.yml and the README's "Containers").
#
#   docker build -t missive .
#   docker run --stop-timeout 40 -p 8000:8000 -v missive-data:/var/lib/missive missive

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin missive \
    && install -m 0755 target/release/missive /usr/local/bin/missive

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/missive missive \
    && install -d -o missive -g missive -m 0750 /var/lib/missive
COPY --from=build /usr/local/bin/missive /usr/local/bin/missive
USER missive
WORKDIR /var/lib/missive
ENV MISSIVE_BIND=0.0.0.0:8000 \
    MISSIVE_LOG_FORMAT=json
EXPOSE 8000
VOLUME ["/var/lib/missive"]
# No curl in the image: bash's /dev/tcp asks /healthz, and only a 200 passes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8000 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["missive"]
CMD ["serve"]
