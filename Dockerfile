# The Slipway operator image: `docker build -t slipway/slipway:0.1.0 .` (the Helm chart's default image).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# A regular (not editable) install, so the source tree is not needed at run time.
RUN pip install . && rm -rf /src

# The same uid the chart's securityContext runs as; no home, no shell, no writable files of its own.
RUN groupadd --system --gid 10001 slipway \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin slipway
USER 10001
WORKDIR /

EXPOSE 8080
ENTRYPOINT ["slipway"]
CMD ["run"]
