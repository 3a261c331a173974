# csm-sync container: `csm-sync run` (the scheduler) by default; `csm-sync run-job JOB` for one-shot runs.
# Config and mapping files are mounted at /etc/csm-sync; secrets come from env or files (/run/secrets).
# Production only: the sandbox (`csm-sync demo`) is a separate distribution and is not installed here.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/build && python -m venv /opt/csm-sync
# Dependencies first, pinned and hash-checked, in their own layer: a source change does not reinstall them.
COPY requirements/build.lock requirements/prod.lock requirements/
RUN /opt/build/bin/pip install --require-hashes --no-deps -r requirements/build.lock \
    && /opt/csm-sync/bin/pip install --require-hashes --no-deps -r requirements/prod.lock
COPY pyproject.toml README.md ./
COPY worker worker
COPY jobs jobs
COPY state state
COPY mappings mappings
COPY connectors connectors
COPY configfiles configfiles
# The wheel is built with the locked setuptools and installed without resolving anything new; `pip check`
# fails the build if the lock no longer holds what pyproject.toml asks for.
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /opt/csm-sync/bin/pip install --no-deps --no-index /wheels/csm_sync-*.whl \
    && /opt/csm-sync/bin/pip check \
    && /opt/csm-sync/bin/csm-sync --help > /dev/null

FROM python:3.11-slim
LABEL org.opencontainers.image.title="csm-sync" \
      org.opencontainers.image.description="Keeps Salesforce in step with dispensary clients' metrics"
RUN groupadd --system --gid 10001 csm-sync \
    && useradd --system --uid 10001 --gid csm-sync --home-dir /var/lib/csm-sync --create-home \
       --shell /usr/sbin/nologin csm-sync \
    && mkdir -p /etc/csm-sync \
    && chown csm-sync:csm-sync /var/lib/csm-sync
COPY --from=build /opt/csm-sync /opt/csm-sync
ENV PATH=/opt/csm-sync/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CSM_SYNC_CONFIG=/etc/csm-sync/config.toml
# The working directory holds the SQLite state file when state.url is the default; mount a volume here,
# or use PostgreSQL (required for several replicas).
WORKDIR /var/lib/csm-sync
VOLUME ["/var/lib/csm-sync"]
USER 10001:10001
# Prometheus metrics of `csm-sync run` ([metrics] port, default 9464).
EXPOSE 9464
# Healthy while the scheduler answers on its metrics endpoint. One-shot `run-job` containers serve no
# endpoint: disable the check for them (`--no-healthcheck`, or Kubernetes, which ignores it).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/metrics', timeout=4)"]
ENTRYPOINT ["csm-sync"]
CMD ["run"]
