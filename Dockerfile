# syntax=docker/dockerfile:1
# One image for the whole fleet: the command names the Procfile process to run
# (`docker run strangler monolith`, `... monolith-worker`, `... proxy`) or `manage <args>`.
# Dependencies are pinned by requirements.lock; only the runtime ones are installed.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml requirements.lock ./
# The runtime dependencies from pyproject.toml, at the versions the lock pins (no dev tools).
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.runtime \
    && pip install -r requirements.runtime -c requirements.lock

FROM ${PYTHON_IMAGE} AS runtime
ARG UID=10001
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_ENV=production \
    LOG_JSON=true \
    BIND_HOST=0.0.0.0 \
    STRANGLER_DATA_DIR=/tmp/strangler \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus-multiproc
# nginx from Debian's package: the compose fleet's edge (`edge`, deploy/container/edge.py) runs it
# as app, fed the configuration exported from the route table.
RUN apt-get update -q && apt-get install -y -q --no-install-recommends nginx-light \
    && rm -rf /var/lib/apt/lists/*
# The shared ownership file's folder, the issuers' JWT key ring, the proxy's data folder (the route
# table, and nginx's under nginx/, shared with the edge) and the fleet's certificates (mTLS):
# compose volumes mounted there start as copies, owned by app.
RUN groupadd --system --gid ${UID} app \
    && useradd --system --uid ${UID} --gid app --home-dir /app --shell /usr/sbin/nologin app \
    && mkdir -p /var/lib/strangler/ownership /var/lib/strangler/jwt /var/lib/strangler/proxy /var/lib/strangler/tls \
    && chown app:app /var/lib/strangler/ownership /var/lib/strangler/jwt /var/lib/strangler/proxy /var/lib/strangler/tls \
    && chmod 700 /var/lib/strangler/jwt
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root Procfile manage.py pyproject.toml ./
COPY --chown=root:root servicekit ./servicekit
COPY --chown=root:root contracts ./contracts
COPY --chown=root:root monolith ./monolith
COPY --chown=root:root strangler_proxy ./strangler_proxy
COPY --chown=root:root extracted ./extracted
COPY --chown=root:root functions ./functions
COPY --chown=root:root deploy/container ./deploy/container
# WhiteNoise serves static files through the finders: no collectstatic step.
USER app
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/deploy/container/healthcheck.py"]
ENTRYPOINT ["python", "/app/deploy/container/entrypoint.py"]
CMD ["proxy"]
