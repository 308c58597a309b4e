# syntax=docker/dockerfile:1
# The Slipway operator image: `docker build -t slipway/slipway:0.1.0 .` (the Helm chart's default image).
# Two stages: the first builds the operator's wheel and the wheels of its dependencies, the second
# installs them into a clean slim image, so no build tool, source tree or pip cache ends up in it.
# tests/architecture/test_image.py checks these rules; the base is an exact version, bumped on purpose.

FROM python:3.11.13-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The operator distribution only: the dev cluster (devcluster/) is never copied (.dockerignore too).
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11.13-slim-bookworm
LABEL org.opencontainers.image.title="slipway" \
      org.opencontainers.image.description="Slipway, a Kubernetes operator for progressive delivery checked against real metrics" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.13-slim-bookworm"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The wheels are mounted for this one step, not copied: no layer keeps them. --no-index: only what the
# build stage built is installed.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels slipway-operator

# The same uid and gid the chart's podSecurityContext runs as; no home, no shell, no files of its own.
RUN groupadd --system --gid 10001 slipway \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin slipway
USER 10001:10001
WORKDIR /

EXPOSE 8080
ENTRYPOINT ["slipway"]
CMD ["run"]
