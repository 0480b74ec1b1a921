# make check: what must be clean before anything lands.
.PHONY: check fmt vet staticcheck test fuzz build imports tidy

check: fmt vet tidy imports staticcheck test fuzz

fmt:
	@out=$$(gofmt -s -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt -s would change:"; echo "$$out"; exit 1; fi

vet:
	go vet ./...

# go.mod and go.sum say exactly what the code imports.
tidy:
	@go mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

staticcheck:
	go tool staticcheck ./...

# Dependencies point inward, towards batch: scripts/imports has the rules.
imports:
	scripts/imports

test:
	scripts/test

# Every fuzz target for FUZZTIME each (make fuzz FUZZTIME=1m for a longer
# look); scripts/fuzz finds the targets.
FUZZTIME ?= 5s
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz

build:
	CGO_ENABLED=0 go build -o tipoff ./cmd/tipoff
