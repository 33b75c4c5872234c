# syntax=docker/dockerfile:1
# Kiln's images for users with a Docker engine. One build stage, one final stage per binary:
#   docker build --target kiln-manager -t kiln/manager:dev .
#   docker build --target kiln-runtime -t kiln/runtime:dev .
# Both final stages are slim Debian with only the shared libraries the binary needs, run as a
# non-root user (65532), and keep the binary at /usr/local/bin.
# kiln-runtime does not link libtorch: the TorchScript backend is a separate module
# (libkiln-torch.so, target kiln-torch) that this image does not build (no libtorch-dev here).

FROM debian:bookworm AS build
# The build dependencies are the ones scripts/setup.sh installs (scripts/deps/*.apt).
COPY scripts/deps /deps
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
         $(cat /deps/build.apt /deps/runtime.apt /deps/drift.apt /deps/kube.apt 2>/dev/null \
           | sed 's/#.*//' | grep -v prometheus) \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DKILN_BUILD_TESTS=OFF -DKILN_BUILD_BENCH=OFF \
    && cmake --build /build -j"$(nproc)" --target kiln-manager kiln-runtime \
    && install -D /build/src/cmd/kiln-manager /out/manager/usr/local/bin/kiln-manager \
    && install -D /build/src/cmd/kiln-runtime /out/runtime/usr/local/bin/kiln-runtime \
    && for b in manager runtime; do \
         for lib in $(ldd /out/$b/usr/local/bin/kiln-$b | awk '/=> \// {print $3}'); do \
           install -D "$lib" "/out/$b$lib"; \
         done; \
       done

# The binary plus the shared libraries it links, at their Debian paths: the same layout
# scripts/images builds without a Docker engine.
FROM debian:bookworm-slim AS base
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 65532 --no-create-home --shell /usr/sbin/nologin kiln
USER 65532:65532

FROM base AS kiln-manager
COPY --from=build /out/manager/ /
ENTRYPOINT ["/usr/local/bin/kiln-manager"]

FROM base AS kiln-runtime
COPY --from=build /out/runtime/ /
ENTRYPOINT ["/usr/local/bin/kiln-runtime"]
