# strata: `make demo` and `make test` set everything up first (idempotent).

PYTHON      := /usr/bin/python3
BASE_IMAGE  := strata-base:bookworm
NODE_TEST   := node --test --test-reporter=spec
# Each suite's time, printed as a table at the end of `make test`.
TIMES       := .cache/test-times.tsv
TIMED       := scripts/timed.sh $(TIMES)
# What a test target sets up first when run on its own; `make test` sets up
# once, then runs each with these empty.
READY       ?= setup
NODE_READY  ?= node

.PHONY: setup packages docker base-image node ansible-versions demo test test-unit test-python test-e2e test-ansible-versions clean-cache bench

setup: packages docker base-image node

packages:
	@scripts/setup-packages.sh

docker: packages
	@scripts/setup-docker.sh

base-image: docker
	@scripts/setup-base-image.sh $(BASE_IMAGE)
	@scripts/setup-bare-bases.sh $(BASE_IMAGE)

node:
	@scripts/setup-node.sh

# Extra ansible-core versions for the test matrix, from Debian's archive (the host's
# apt sources untouched): .cache/ansible/VERSION/bin/{ansible-playbook,ansible,ansible-doc,python}.
ANSIBLE_VERSIONS ?= 2.19 2.22
ansible-versions: docker
	@scripts/setup-ansible.sh $(ANSIBLE_VERSIONS)

# What runs again on each newer ansible-core (Debian 12's 2.14 runs everything):
# the Python unit tests everywhere; on the newest, the conformance suite, the
# core end-to-end tests, the bases without Python and the multi-stage example
# (fetch to the controller, copy from it); on 2.19, to keep CI
# within its time, the conformance suite and the example (its edits go through
# 2.19's own templating). two-images and long-chains run on 2.14 only: the
# conformance cases cover the first on every release, and the second tests the
# engine's flattening, which no Ansible release changes.
E2E_2.19 := ansible-version conformance example play-vars
E2E_2.22 := ansible-version conformance example failures cache-controls bare-bases multistage play-vars reproducible
test-ansible-versions: $(READY)
	@$(TIMED) "setup: ansible-core $(ANSIBLE_VERSIONS)" $(MAKE) --no-print-directory ansible-versions
	@status=0; for v in $(ANSIBLE_VERSIONS); do \
	  echo "== ansible-core $$v"; \
	  $(TIMED) "pytest $$v" .cache/ansible/$$v/bin/python -m pytest -q -p no:cacheprovider test/python || status=1; \
	  case $$v in 2.19) tests="$(E2E_2.19)";; *) tests="$(E2E_2.22)";; esac; \
	  for t in $$tests; do \
	    PATH="$(CURDIR)/.cache/ansible/$$v/bin:$$PATH" STRATA_TEST_ANSIBLE=$$v \
	      $(TIMED) "e2e $$v $$t" $(NODE_TEST) --test-concurrency=1 dist/test/e2e/$$t.test.js || status=1; \
	  done; \
	done; exit $$status

demo: setup
	@scripts/demo.sh

# Every suite runs even when one fails; the time table comes last either way.
test:
	@rm -f $(TIMES); status=0; \
	$(TIMED) "setup: packages, Docker, base images, node" $(MAKE) --no-print-directory setup || status=1; \
	[ $$status -ne 0 ] || for suite in test-unit test-python test-e2e test-ansible-versions; do \
	  $(MAKE) --no-print-directory READY= NODE_READY= $$suite || status=1; \
	done; \
	$(TIMED) --table; exit $$status

test-unit: $(NODE_READY)
	@$(TIMED) unit $(NODE_TEST) dist/test/unit/

test-python:
	@$(TIMED) "pytest 2.14" $(PYTHON) -m pytest -q test/python

# One file at a time, each timed; all run, and any failure fails the target.
test-e2e: $(READY)
	@status=0; for f in dist/test/e2e/*.test.js; do \
	  $(TIMED) "e2e 2.14 $$(basename $$f .test.js)" $(NODE_TEST) --test-concurrency=1 $$f || status=1; \
	done; exit $$status

# Removes every cache entry (images tagged strata-cache:*); final images stay.
clean-cache:
	@docker images --format '{{.Repository}}:{{.Tag}}' | grep '^strata-cache:' | xargs -r docker rmi >/dev/null

# The benchmark: ratios against stock Ansible, --list-tasks and docker build (BENCH_ROUNDS=3).
bench: setup
	node dist/bench/bench.js
