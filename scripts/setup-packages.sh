#!/usr/bin/env bash
# Installs the Debian packages strata needs, skipping those already there.
set -euo pipefail
packages=(docker.io ansible-core ansible python3-msgpack python3-websocket python3-pytest debootstrap docker-registry iproute2 podman rsync)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "strata setup: missing Debian packages: ${missing[*]}; install them as root (apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "strata setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
log=$(mktemp /tmp/strata-apt.XXXXXX)
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -20 "$log" >&2
  echo "strata setup: installing ${missing[*]} failed; the whole log is $log" >&2
  exit 1
fi
rm -f "$log"
