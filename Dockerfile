# A live or paper node in a container. Build: docker build -t liqcascade .
# Run:   docker run -d --restart=on-failure:10 --env-file live.env \
#          -v $PWD/my-trading:/work -p 127.0.0.1:8787:8787 liqcascade \
#          live --config configs/live.toml --env mainnet --confirm-mainnet health.host="0.0.0.0"
# (inside a container the health endpoint must listen on 0.0.0.0; publish it on 127.0.0.1 only)
FROM python:3.12-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir ".[live]"
WORKDIR /work
ENTRYPOINT ["liqcascade"]
