# tipoff: one static binary in a distroless image, run as a non-root user.
# The same image serves both Cloud Run services; the service's args pick
# the subcommand (see deploy/).
#
#   docker build \
#     --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg COMMIT="$(git rev-parse HEAD)" \
#     -t REGION-docker.pkg.dev/PROJECT/tipoff/tipoff:TAG .

# Build stage: the Go toolchain of go.mod's version.
FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# CGO_ENABLED=0: a static binary (SQLite is modernc.org/sqlite, pure Go).
# -trimpath and -buildvcs=false: no build machine paths, and no need for
# .git in the build context; the version and commit come from the args.
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/tipoff ./cmd/tipoff \
 && /out/tipoff version

# Run stage: CA certificates and tzdata, no shell, uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tipoff /usr/local/bin/tipoff
USER nonroot:nonroot
# Cloud Run sends requests to $PORT, 8080 unless configured otherwise.
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tipoff"]
CMD ["help"]
