# tipoff: one static binary in a distroless image, run as a non-root user.
# The same image serves both Cloud Run services; the service's args pick
# the subcommand (see deploy/).
#
# Cloud Run runs linux/amd64, so build for it whatever the build machine is
# (deploy/deploy.sh's image step does):
#
#   docker build --platform linux/amd64 \
#     --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg COMMIT="$(git rev-parse HEAD)" \
#     -t REGION-docker.pkg.dev/PROJECT/tipoff/tipoff:TAG .

# Build stage: the Go toolchain of go.mod's version, on the build machine's
# own platform; Go cross-compiles to the target's, which is faster than
# running the compiler under emulation.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# Set by BuildKit (Docker's default builder) from --platform.
ARG TARGETOS
ARG TARGETARCH
# CGO_ENABLED=0: a static binary (SQLite is modernc.org/sqlite, pure Go).
# -trimpath and -buildvcs=false: no build machine paths, and no need for
# .git in the build context; the version and commit come from the args.
# The stamp is checked by running the binary where it can run, and where
# it cannot (another architecture) by finding the version and commit in it:
# -trimpath leaves -ldflags out of the build info.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/tipoff ./cmd/tipoff \
 && if [ "${TARGETARCH:-amd64}" = "$(go env GOHOSTARCH)" ]; then /out/tipoff version; \
    else grep -qaF "${VERSION}" /out/tipoff && grep -qaF "${COMMIT}" /out/tipoff; fi

# Run stage: CA certificates and tzdata, no shell, uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tipoff /usr/local/bin/tipoff
USER nonroot:nonroot
# Cloud Run sends requests to $PORT, 8080 unless configured otherwise.
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tipoff"]
CMD ["help"]
