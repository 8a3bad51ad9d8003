# Build stage: a static binary, so the runtime image needs no libc.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/walcast ./cmd/walcast

# Runtime stage. It has no Postgres binaries, so DATABASE_URL must be set.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/walcast /usr/local/bin/walcast
EXPOSE 4000
ENTRYPOINT ["/usr/local/bin/walcast"]
