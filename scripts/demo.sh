#!/usr/bin/env bash
# The demo: build examples/webapp cold (reading nothing from the cache), then
# again with nothing changed, which comes entirely from the cache.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
eval "$(node "$root/bin/strata.js" env)"
cd "$root/examples/webapp"

banner() { printf '\n\033[1m==> %s\033[0m\n\n' "$*"; }

banner "Cold build (STRATA_NO_CACHE=1: every task runs and is committed as a layer)"
STRATA_NO_CACHE=1 ansible-playbook -i inventory.yml site.yml

banner "Rebuild with nothing changed: every task comes from the cache, no container starts"
ansible-playbook -i inventory.yml site.yml

banner "The image"
docker run --rm strata-example/web:latest python3 /srv/app/server.py --greeting
docker history --format 'table {{.Size}}\t{{.Comment}}' strata-example/web:latest | grep -v '^0B *$'
