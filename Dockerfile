# syntax=docker/dockerfile:1
# Build stage: the same scripts/build.sh that scripts/test.sh runs in CI.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN OUT=/out/pusher-authd VERSION="$VERSION" ./scripts/build.sh

# Final stage: a static binary on distroless, running as the nonroot user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/pusher-authd /usr/local/bin/pusher-authd
# The development config is baked in at this path; mount your own file over
# it (or set PUSHER_AUTHD_CONFIG) for real use.
COPY config.yaml /etc/pusher-authd/config.yaml
ENV PUSHER_AUTHD_CONFIG=/etc/pusher-authd/config.yaml \
    PUSHER_AUTHD_SERVER_LISTEN=:8080
USER nonroot:nonroot
EXPOSE 8080
# The service writes no files, so it runs with a read-only root filesystem
# (docker run --read-only, or readOnlyRootFilesystem in Kubernetes).
# Distroless has no shell or curl, so the probe is a subcommand.
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/usr/local/bin/pusher-authd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/pusher-authd"]
CMD ["serve"]
