# signalwatch: a slim image that runs `signalwatch run` as a non-root user.
#   docker build -t signalwatch .
#   docker run -d --name signalwatch --restart unless-stopped -v signalwatch-data:/data \
#     -e SIGNALWATCH_DISCORD_TOKEN=... signalwatch
FROM python:3.12-slim AS build
WORKDIR /src
# Dependencies first, in a layer of their own: editing the code does not reinstall them.
# (A stub package stands in for bot/ so pip can resolve the project's dependencies.)
COPY pyproject.toml README.md ./
RUN mkdir bot && touch bot/__init__.py \
    && pip install --no-cache-dir --prefix=/install '.[ops,postgres]' \
    && rm -rf bot build *.egg-info
COPY bot ./bot
RUN pip install --no-cache-dir --prefix=/install --no-deps --force-reinstall .

FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SIGNALWATCH_DB=sqlite:////data/signalwatch.db \
    SIGNALWATCH_WATCHLIST=/data/watchlist.yaml \
    SIGNALWATCH_HEARTBEAT_FILE=/data/.heartbeat \
    SIGNALWATCH_HTTP_PORT=9108
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin signalwatch \
    && mkdir -p /data /usr/share/signalwatch && chown signalwatch /data
# The shipped watchlist is copied into the volume on first start, so admins' edits persist.
COPY watchlist.yaml /usr/share/signalwatch/watchlist.yaml
USER signalwatch
WORKDIR /data
VOLUME ["/data"]
# Healthy while the run loop turns: `signalwatch health` asks /healthz on 127.0.0.1:9108
# (inside the container; publish it with SIGNALWATCH_HTTP_HOST=0.0.0.0 and -p to scrape it).
EXPOSE 9108
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["signalwatch", "health"]
ENTRYPOINT ["/bin/sh", "-c", "[ -f \"$SIGNALWATCH_WATCHLIST\" ] || cp /usr/share/signalwatch/watchlist.yaml \"$SIGNALWATCH_WATCHLIST\"; exec signalwatch \"$@\"", "--"]
CMD ["run"]
