# syntax=docker/dockerfile:1
#
# hupwatch in an otherwise empty image: one small static binary (the tiny
# build) that runs as PID 1, reaps orphans, forwards signals and reloads
# your server without downtime.
#
#   docker build -t hupwatch .
#   docker buildx build --platform linux/amd64,linux/arm64,linux/386,linux/arm/v7 -t hupwatch .
#
# Every platform's binary is cross-compiled on the build platform (no
# emulation): the build stage runs on $BUILDPLATFORM and builds for
# $TARGETARCH with scripts/build-tiny --target. Needs BuildKit (buildx, or
# docker build since Docker 23), which builds only the stages used.
#
# Put it in front of your server in your own image; everything after "--" is
# the server's command (hupwatch's options, such as -w 2 or
# --stop-signal QUIT, go before it):
#
#   FROM hupwatch AS hupwatch
#   FROM your-server-image
#   COPY --from=hupwatch /hupwatch /hupwatch
#   ENTRYPOINT ["/hupwatch", "-w", "2", "--"]
#   CMD ["/usr/local/bin/server", "--config", "/etc/server.conf"]
#
# Reload (a second generation of the server starts; once it has stayed up
# for the warm-up time the old one gets SIGTERM, so no request is dropped):
#
#   docker run -d --name web -p 8000:8000 your-image
#   docker kill --signal=HUP web     # from outside
#   kill -HUP 1                      # from inside the container
#
# `docker stop web` sends SIGTERM: hupwatch passes it to every generation
# and exits with the serving generation's status.
#
# The build stage uses nightly Rust for the tiny build (scripts/build-tiny);
# pin a date with --build-arg NIGHTLY=nightly-YYYY-MM-DD.
#
# From a binary built outside Docker (scripts/release writes one per
# architecture into dist/), with no build stage and no registry:
#
#   docker build --build-arg HUPWATCH_FROM=context \
#       --build-arg HUPWATCH_BINARY=dist/hupwatch-aarch64 --platform linux/arm64 -t hupwatch .
#
# tests/container.rs builds the image this way with podman.

# Where the final image's binary comes from: "build" (compiled below) or
# "context" (the file HUPWATCH_BINARY of the build context).
ARG HUPWATCH_FROM=build

FROM --platform=$BUILDPLATFORM rust:1-bookworm AS build
ARG NIGHTLY=nightly
ARG TARGETARCH
ARG TARGETVARIANT
ENV HUPWATCH_NIGHTLY=${NIGHTLY}
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY .cargo .cargo
COPY src src
COPY scripts/build-tiny scripts/build-tiny
RUN case "$TARGETARCH/$TARGETVARIANT" in \
        amd64/*) triple=x86_64-unknown-linux-musl ;; \
        arm64/*) triple=aarch64-unknown-linux-musl ;; \
        386/*) triple=i686-unknown-linux-musl ;; \
        arm/v7) triple=armv7-unknown-linux-musleabihf ;; \
        *) echo "hupwatch has no build for $TARGETARCH/$TARGETVARIANT" >&2; exit 1 ;; \
    esac \
 && bash scripts/build-tiny --target "$triple" \
 && mkdir /out \
 && cp "target/tiny/$triple/release/hupwatch" /out/hupwatch

FROM scratch AS context
ARG HUPWATCH_BINARY=dist/hupwatch-x86_64
COPY ${HUPWATCH_BINARY} /out/hupwatch

FROM ${HUPWATCH_FROM} AS binary

FROM scratch
COPY --from=binary /out/hupwatch /hupwatch
# A /tmp for the servers that want one (hupwatch's own notify sockets are
# abstract and need no directory). The archive holds one entry, tmp/ with
# mode 1777 (owner 0), since COPY does not keep a directory's mode in every
# builder and scratch has no shell to mkdir with.
ADD deploy/image/tmp.tar /
ENTRYPOINT ["/hupwatch", "--"]
