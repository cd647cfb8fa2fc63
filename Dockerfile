# meterfleet in a container: one binary (the conformance catalogue, scenarios and plans are
# built into it), run as a non-root user, the meters' port and the control port exposed.
#
#   docker build -t meterfleet .
#   docker run --rm meterfleet --help
#   docker run -d -p 4059-5058:4059-5058 -p 9059:9059 -v "$PWD/fleet:/data" meterfleet \
#       emulate --scenario default --trust-key /data/vendor.pub --addressing port-range \
#       --bind 0.0.0.0 --advertise HOST --control 0.0.0.0:9059 --control-token TOKEN \
#       --targets-out /data/fleet.toml
#
# BUILDER and RUNTIME name the two base images; a machine that cannot pull them builds on
# images of its own under other names (tests/container.rs makes both from this host's files).
ARG BUILDER=rust:1.95-bookworm
ARG RUNTIME=debian:bookworm-slim

FROM ${BUILDER} AS build
LABEL org.meterfleet.stage=build
WORKDIR /src
COPY . .
# A builder image that already holds the binary (an air-gapped build) skips the compilation.
RUN test -x target/release/meterfleet || cargo build --release --locked --bin meterfleet
# An empty directory for the runtime's working directory (WORKDIR makes it without a shell).
WORKDIR /data

FROM ${RUNTIME}
COPY --from=build /src/target/release/meterfleet /usr/local/bin/meterfleet
# The working directory, where targets files, reports and journals go: mount a volume here.
COPY --from=build --chown=10001:10001 /data /data
WORKDIR /data
USER 10001:10001
# The meters (the wrapper's registered port, and port-range fleets from it) and the control
# endpoint (/metrics, /meters, /judge).
EXPOSE 4059 9059
ENTRYPOINT ["/usr/local/bin/meterfleet"]
CMD ["--help"]
