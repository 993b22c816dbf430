# moi agent image: the `moi` command with its wallet in /data.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY agent agent
COPY protocols protocols
COPY wallet wallet
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgres]"

FROM python:3.12-slim
RUN useradd --create-home --uid 10001 moi && mkdir /data && chown moi /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER moi
ENV MOI_HOME=/data
VOLUME ["/data"]
ENTRYPOINT ["moi"]
CMD ["--help"]
