# The team's dashboard: Streamlit on dashboard.py, behind sign-in (docs/deploy.md, infra/dashboard.yaml).
# Build from the repository root:
#   docker build --platform linux/arm64 -f infra/dashboard.Dockerfile -t liveinsight-dashboard .
# It holds the dashboard's libraries only (requirements-dashboard.txt: no boto3, no moto) and runs
# as an unprivileged user. It is given no AWS credentials: the container service injects the API key
# and the sign-in secrets as environment variables, and the dashboard reaches the backend over HTTP.
FROM python:3.11-slim-trixie

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/liveinsight

WORKDIR /app
COPY requirements-dashboard.txt ./
RUN pip install --no-cache-dir -r requirements-dashboard.txt \
    && useradd --system --uid 10001 --create-home --home-dir /home/liveinsight --shell /usr/sbin/nologin liveinsight

# The router, its pages, the theme, the map's shapes (static/), and the package the command line and the dashboard import
# (the local stack's wing stays out: see dashboard.Dockerfile.dockerignore).
COPY dashboard.py ./
COPY pages/ pages/
COPY .streamlit/config.toml .streamlit/config.toml
COPY static/ static/
COPY liveinsight/ liveinsight/

USER 10001
EXPOSE 8501
# Streamlit's own health endpoint; the load balancer's target group checks the same path.
HEALTHCHECK --interval=30s --timeout=5s --start-period=40s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
# The same entry point as `python -m liveinsight dashboard` on a laptop; settings come from the environment.
ENTRYPOINT ["python", "-m", "liveinsight", "dashboard", "--host", "0.0.0.0", "--port", "8501"]
