# syntax=docker/dockerfile:1
# Kiln's images for users with a Docker engine. One build stage, one final stage per binary:
#   docker build --target kiln-manager -t kiln/manager:dev .
#   docker build --target kiln-runtime -t kiln/runtime:dev .
# Both final stages are slim Debian with only the shared libraries the binary needs, run as a
# non-root user (65532), and keep the binary at /usr/local/bin.

FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config git ca-certificates \
      libcpprest-dev nlohmann-json3-dev libyaml-cpp-dev libssl-dev libspdlog-dev libfmt-dev \
      libcli11-dev libxgboost-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DKILN_BUILD_TESTS=OFF -DKILN_BUILD_BENCH=OFF \
    && cmake --build /build -j"$(nproc)" \
    && cmake --install /build --prefix /out

FROM debian:bookworm-slim AS base
RUN apt-get update && apt-get install -y --no-install-recommends \
      ca-certificates libspdlog1.10 libfmt9 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 65532 --no-create-home --shell /usr/sbin/nologin kiln
USER 65532:65532

FROM base AS kiln-manager
COPY --from=build /out/bin/kiln-manager /usr/local/bin/kiln-manager
ENTRYPOINT ["/usr/local/bin/kiln-manager"]

FROM base AS kiln-runtime
COPY --from=build /out/bin/kiln-runtime /usr/local/bin/kiln-runtime
ENTRYPOINT ["/usr/local/bin/kiln-runtime"]
