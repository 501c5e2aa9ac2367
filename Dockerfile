# syntax=docker/dockerfile:1
# Omni CRM production image: one image, three roles (web | worker | scheduler), see
# docker/entrypoint.sh. Multi-stage: build tools stay in the first stage, the runtime stage
# holds only the virtualenv and the app and runs as a non-root user.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY requirements.txt constraints.txt ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip install -r requirements.txt -c constraints.txt

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OMNICRM_ENV=production \
    OMNICRM_INSTANCE_DIR=/var/lib/omnicrm \
    EXPORT_DIR=/var/lib/omnicrm/exports \
    FLASK_APP=run \
    PORT=8000
RUN groupadd --system --gid 10001 omnicrm \
 && useradd --system --uid 10001 --gid omnicrm --home-dir /app --shell /usr/sbin/nologin omnicrm \
 && mkdir -p /var/lib/omnicrm/exports \
 && chown -R omnicrm:omnicrm /var/lib/omnicrm
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# code is owned by root and read-only for the app user; only /var/lib/omnicrm is writable
COPY app/ app/
COPY migrations/ migrations/
COPY config.py run.py worker.py gunicorn.conf.py ./
COPY docker/entrypoint.sh /usr/local/bin/omnicrm-entrypoint
RUN chmod 0755 /usr/local/bin/omnicrm-entrypoint && python -m compileall -q app
USER omnicrm:omnicrm
VOLUME ["/var/lib/omnicrm"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT','8000'), timeout=4)" || exit 1
ENTRYPOINT ["omnicrm-entrypoint"]
CMD ["web"]
