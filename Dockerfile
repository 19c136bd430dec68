# Stripe Balance Manager: API (`serve`, the default) and recharge worker (`worker`) in one image.
#
#   docker build -t balance-manager .
#   docker run --env-file .env -p 3000:3000 balance-manager                # API (+ embedded worker)
#   docker run --env-file .env balance-manager worker                      # a separate worker
#   docker run --env-file .env balance-manager migrate                     # a one-shot migration
#
# `serve` and `worker` migrate on start-up too; replicas starting together do not race (an
# advisory lock lets one migrate while the others wait).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: the project's wheel, then a virtualenv with it and its runtime dependencies ----
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
# The wheel carries only runtime requirements: the [dev] extras (pytest, ruff, mypy,
# Playwright …) are never installed in the image.
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && python -m venv /opt/balance-manager \
    && /opt/balance-manager/bin/pip install /wheels/*.whl

# --- runtime: slim Python, the virtualenv, a non-root user --------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/balance-manager/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    LOG_FORMAT=json

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /app \
    && chown app:app /app

COPY --from=builder /opt/balance-manager /opt/balance-manager

# /app is the working directory: a `.env` mounted there is read, and the default SQLite file
# (only for trying the image out; use DATABASE_URL=postgresql://… in production) lands there.
WORKDIR /app
USER 10001:10001

EXPOSE 3000

# Liveness through the API's own /health (the image has no curl; Python's urllib will do).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '3000'), timeout=4)"]

ENTRYPOINT ["balance-manager"]
CMD ["serve", "--host", "0.0.0.0"]
