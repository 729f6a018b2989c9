# One entry point for people; CI (.ci/run) runs the same commands.
#
#   make build      bin/server, bin/client, bin/democheckout, bin/amazonpay-simulator
#   make test       go test -race ./...  (PostgreSQL suites need TEST_DATABASE_URL's database)
#   make lint       gofmt, go vet, staticcheck, buf lint and format
#   make generate   go generate ./...  (gen/, vendored protos, the TypeScript client)
#   make image      the container image paymentcompletion:dev (podman)
#   make deploy-check  render and validate the Kubernetes, Prometheus and systemd files
#   make release    binaries for linux/amd64 and arm64, images, SHA256SUMS, SBOM in dist/
#   make ci         the whole CI, as on a clean clone
#
# The version stamped into binaries comes from the git tag (git describe);
# VERSION=1.2.3 overrides it.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE   ?= paymentcompletion:dev
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
GOARCH  ?= $(shell go env GOARCH)
IMAGE_CONTEXT := build/image

.PHONY: help build test lint generate image image-context deploy-check release ci clean

help:
	@sed -n 's/^#   make /  make /p' $(MAKEFILE_LIST)

build:
	go build -o bin/ ./server ./client ./internal/cmd/democheckout ./amazonpay/simulator/cmd/amazonpay-simulator

test:
	go test -race ./...

lint:
	@unformatted="$$(find . -name '*.go' -not -path './gen/*' -not -path './.git/*' -not -path '*/node_modules/*' -print0 | xargs -0 gofmt -l)"; \
	  if [[ -n "$$unformatted" ]]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go tool -modfile=tools/go.mod staticcheck ./...
	go tool -modfile=tools/go.mod buf lint
	go tool -modfile=tools/go.mod buf format -d --exit-code --exclude-path proto/buf --exclude-path proto/google

generate:
	go generate ./...

# The image's build context: static binaries (no libc in the image), the CA
# bundle of the build machine (Debian's ca-certificates), passwd and group
# naming the service's UID 65532, and empty directories for /data (0750)
# and /tmp (1777), whose modes COPY keeps.
image-context:
	rm -rf $(IMAGE_CONTEXT) && mkdir -p $(IMAGE_CONTEXT)/dirs/data $(IMAGE_CONTEXT)/dirs/tmp
	chmod 0750 $(IMAGE_CONTEXT)/dirs/data && chmod 1777 $(IMAGE_CONTEXT)/dirs/tmp
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) go build -trimpath -ldflags '$(LDFLAGS)' -o $(IMAGE_CONTEXT)/paymentcompletion ./server
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) go build -trimpath -ldflags '-s -w' -o $(IMAGE_CONTEXT)/amazonpay-simulator ./amazonpay/simulator/cmd/amazonpay-simulator
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) go build -modfile=tools/deploy/go.mod -trimpath -ldflags '-s -w' -o $(IMAGE_CONTEXT)/grpc-health-probe github.com/grpc-ecosystem/grpc-health-probe
	cp /etc/ssl/certs/ca-certificates.crt $(IMAGE_CONTEXT)/ca-certificates.crt
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/data:/sbin/nologin\n' >$(IMAGE_CONTEXT)/passwd
	printf 'root:x:0:\nnonroot:x:65532:\n' >$(IMAGE_CONTEXT)/group

image: image-context
	podman build --format docker --arch $(GOARCH) -f deploy/image/Containerfile \
	  --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) $(IMAGE_CONTEXT)

deploy-check:
	bash .ci/deploy.sh

# The version is the tag on HEAD (the script refuses an untagged HEAD),
# unless VERSION is given: make release VERSION=v0.1.0-rc1.
release:
	$(if $(filter command line environment,$(origin VERSION)),VERSION=$(VERSION)) bash scripts/release.sh

ci:
	bash .ci/run

clean:
	rm -rf bin build dist
