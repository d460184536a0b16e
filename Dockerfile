# galgate gateway image: embedded SQLite registry by default, PostgreSQL via GALGATE_DB_URL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    GALGATE_DB_URL=sqlite+aiosqlite:////data/galgate.db \
    GALGATE_LISTEN=0.0.0.0:50051
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY registry registry
COPY converters converters
RUN pip install --no-cache-dir . && mkdir -p /data && chown nobody /data
VOLUME /data
EXPOSE 50051
USER nobody
ENTRYPOINT ["galgate"]
CMD ["serve", "--demo"]
