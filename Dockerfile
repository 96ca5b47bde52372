# hupwatch in an otherwise empty image: one small static binary (the tiny
# build) that runs as PID 1, reaps orphans, forwards signals and reloads
# your server without downtime.
#
#   docker build -t hupwatch .
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
# The builder uses nightly Rust for the tiny build (scripts/build-tiny);
# pin a date with --build-arg NIGHTLY=nightly-YYYY-MM-DD.

FROM rust:1-bookworm AS builder
ARG NIGHTLY=nightly
ENV HUPWATCH_NIGHTLY=${NIGHTLY}
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY .cargo .cargo
COPY src src
COPY scripts/build-tiny scripts/build-tiny
RUN bash scripts/build-tiny \
 && cp target/tiny/x86_64-unknown-linux-musl/release/hupwatch /hupwatch \
 && mkdir -m 1777 /empty-tmp

FROM scratch
COPY --from=builder /hupwatch /hupwatch
# A /tmp for the servers that want one (hupwatch's own notify sockets are
# abstract and need no directory).
COPY --from=builder /empty-tmp /tmp
ENTRYPOINT ["/hupwatch", "--"]
