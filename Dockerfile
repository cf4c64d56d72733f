# syntax=docker/dockerfile:1
# Build a wheel in one stage, install it into a slim, non-root runtime in the next.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY api ./api
COPY domain ./domain
COPY privacy ./privacy
COPY scoring ./scoring
COPY seed ./seed
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LENDGRAPH_ENV=production \
    LENDGRAPH_HOST=0.0.0.0 \
    LENDGRAPH_PORT=8000
RUN useradd --create-home --uid 10001 lendgraph \
    && mkdir -p /var/lib/lendgraph/models && chown -R lendgraph /var/lib/lendgraph
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER lendgraph
WORKDIR /home/lendgraph
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
# LENDGRAPH_DATABASE_URL must name the PostgreSQL database; run `lendgraph migrate` first.
CMD ["lendgraph", "serve", "--workers", "2"]
