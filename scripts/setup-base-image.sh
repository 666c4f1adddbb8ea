#!/usr/bin/env bash
# Builds the local base image (Debian bookworm minbase + python3) when Docker
# does not have it: no registry can be pulled from here, Debian's mirror can.
set -euo pipefail
image=${1:-strata-base:bookworm}
docker image inspect "$image" >/dev/null 2>&1 && exit 0
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}
root=$(mktemp -d /var/tmp/strata-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "strata setup: building $image with debootstrap from $mirror (about a minute)"
debootstrap --variant=minbase --include=python3 bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
tar -C "$root" -c . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["bash"]' - "$image" >/dev/null
echo "strata setup: built $image"
