# syntax=docker/dockerfile:1
# Build stage: a virtualenv with the service and its dependencies.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY app ./app
COPY schema ./schema
RUN pip install .

# Runtime stage: no compilers, a non-root user.
FROM python:3.11-slim
RUN useradd --system --uid 10001 --gid 0 --home-dir /srv finora
WORKDIR /srv
COPY --from=build /opt/venv /opt/venv
COPY aerich_migrations ./aerich_migrations
ENV PATH=/opt/venv/bin:$PATH FINORA_ENV=production HOST=0.0.0.0 PORT=8000 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FINORA_MIGRATIONS_DIR=/srv/aerich_migrations
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --retries=3 \
    CMD ["python", "-c", "import os,urllib.request;urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8000\")}/healthz',timeout=2)"]
# Migrations are a separate step: `docker run IMAGE finora migrate`.
CMD ["sh", "-c", "exec finora serve --host \"$HOST\" --port \"$PORT\" --workers \"${WEB_CONCURRENCY:-2}\""]
