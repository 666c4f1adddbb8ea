# strata: `make demo` and `make test` set everything up first (idempotent).

PYTHON      := /usr/bin/python3
BASE_IMAGE  := strata-base:bookworm
NODE_TEST   := node --test --test-reporter=spec

.PHONY: setup packages docker base-image node demo test test-unit test-python test-e2e clean-cache bench

setup: packages docker base-image node

packages:
	@scripts/setup-packages.sh

docker: packages
	@scripts/setup-docker.sh

base-image: docker
	@scripts/setup-base-image.sh $(BASE_IMAGE)

node:
	@scripts/setup-node.sh

demo: setup
	@scripts/demo.sh

test: setup
	$(MAKE) --no-print-directory test-unit test-python test-e2e

test-unit: node
	$(NODE_TEST) dist/test/unit/

test-python:
	$(PYTHON) -m pytest -q test/python

test-e2e: setup
	$(NODE_TEST) --test-concurrency=1 dist/test/e2e/

# Removes every cache entry (images tagged strata-cache:*); final images stay.
clean-cache:
	@docker images --format '{{.Repository}}:{{.Tag}}' | grep '^strata-cache:' | xargs -r docker rmi >/dev/null

# The benchmark: ratios against stock Ansible, --list-tasks and docker build (BENCH_ROUNDS=3).
bench: setup
	node dist/bench/bench.js
