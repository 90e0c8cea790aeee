# signalwatch: a slim image that runs `signalwatch run` as a non-root user.
#   docker build -t signalwatch .
#   docker run -d --name signalwatch -v signalwatch-data:/data \
#     -e SIGNALWATCH_DISCORD_TOKEN=... signalwatch
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir --prefix=/install ".[postgres]"

FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SIGNALWATCH_DB=sqlite:////data/signalwatch.db \
    SIGNALWATCH_WATCHLIST=/data/watchlist.yaml \
    SIGNALWATCH_HEARTBEAT_FILE=/data/.heartbeat
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin signalwatch \
    && mkdir -p /data /usr/share/signalwatch && chown signalwatch /data
# The shipped watchlist is copied into the volume on first start, so admins' edits persist.
COPY watchlist.yaml /usr/share/signalwatch/watchlist.yaml
USER signalwatch
WORKDIR /data
VOLUME ["/data"]
# Healthy while the run loop turns (it touches the heartbeat file every turn).
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["signalwatch", "health"]
ENTRYPOINT ["/bin/sh", "-c", "[ -f \"$SIGNALWATCH_WATCHLIST\" ] || cp /usr/share/signalwatch/watchlist.yaml \"$SIGNALWATCH_WATCHLIST\"; exec signalwatch \"$@\"", "--"]
CMD ["run"]
