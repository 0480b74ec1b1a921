# make check: what must be clean before anything lands.
.PHONY: check fmt vet staticcheck test build imports

check: fmt vet imports staticcheck test

fmt:
	@out=$$(gofmt -s -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt -s would change:"; echo "$$out"; exit 1; fi

vet:
	go vet ./...

staticcheck:
	go tool staticcheck ./...

# batch is the domain: batch and its conformance suites import no other
# package of ours.
imports:
	@bad=$$(go list -deps ./batch/... | grep '^tipoff/' | grep -v -x -e tipoff/batch -e tipoff/batch/batchtest); \
	if [ -n "$$bad" ]; then echo "batch/... imports $$bad"; exit 1; fi

test:
	scripts/test

build:
	CGO_ENABLED=0 go build -o tipoff ./cmd/tipoff
