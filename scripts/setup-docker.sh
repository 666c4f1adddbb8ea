#!/usr/bin/env bash
# Starts dockerd in the background when no Docker daemon answers.
set -euo pipefail
docker info >/dev/null 2>&1 && exit 0
if [ -n "${DOCKER_HOST:-}" ]; then
  echo "strata setup: no Docker daemon answers at DOCKER_HOST=$DOCKER_HOST; start it or unset DOCKER_HOST" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "strata setup: no Docker daemon runs and only root can start one here; start Docker (or add yourself to the docker group)" >&2
  exit 1
fi
log=/var/log/strata-dockerd.log
echo "strata setup: starting dockerd (log: $log)"
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "strata setup: dockerd did not come up within 60 s; see $log" >&2
tail -20 "$log" >&2
exit 1
