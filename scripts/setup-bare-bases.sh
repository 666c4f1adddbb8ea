#!/usr/bin/env bash
# Builds the bases without Python that strata's mounted runtime is tested on,
# when Docker does not have them, from the local Python base (no registry can
# be pulled from here; Debian's mirror can):
#   strata-base:bookworm-slim  Debian minbase without Python; also what the
#                              tests make strata's mounted runtime in
#                              (STRATA_RUNTIME_FROM, test/e2e/harness.ts), since
#                              debian:bookworm-slim cannot be pulled here. It is
#                              never tagged with that name, which would shadow
#                              the real image on the user's Docker.
#   strata-base:busybox        BusyBox from Debian's busybox-static: no libc, no Python
#   strata-base:static         one static binary (Debian's tini-static): no shell at all
set -euo pipefail
from=${1:-strata-base:bookworm}
have() { docker image inspect "$1" >/dev/null 2>&1; }

# One layer, like a published base: the container's files, imported.
import_from() {  # NAME SCRIPT IMPORT-OPTIONS...
  local name=$1 script=$2; shift 2
  local box ok=0
  box=$(docker create "$from" /bin/sh -c "$script")
  docker start -a "$box" >/dev/null && [ "$(docker inspect -f '{{.State.ExitCode}}' "$box")" = 0 ] \
    && docker export "$box" | docker import "$@" - "$name" >/dev/null || ok=$?
  docker rm -f "$box" >/dev/null
  [ $ok = 0 ] || { echo "strata setup: building $name failed" >&2; return 1; }
}

# Runs in a Debian container; prints a root file system as a tar on stdout.
tar_of() {  # IMAGE-NAME SCRIPT IMPORT-OPTIONS...
  local name=$1 script=$2; shift 2
  docker run --rm "$from" /bin/sh -c "set -e; cd /tmp; apt-get update -qq >/dev/null; $script" \
    | docker import "$@" - "$name" >/dev/null
}

if ! have strata-base:bookworm-slim; then
  echo "strata setup: building strata-base:bookworm-slim (Debian minbase without Python)"
  import_from strata-base:bookworm-slim \
    'dpkg --purge $(dpkg-query -W -f "\${Package}\n" | grep -E "^(lib)?python3") >/dev/null 2>&1 && rm -rf /usr/lib/python3*' \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["bash"]'
fi

if ! have strata-base:busybox; then
  echo "strata setup: building strata-base:busybox (Debian's busybox-static)"
  tar_of strata-base:busybox '
    apt-get download -qq busybox-static 2>/dev/null; dpkg-deb -x busybox-static_*.deb root; cd root
    for applet in $(bin/busybox --list-full); do [ -e "$applet" ] || { mkdir -p "${applet%/*}"; ln -s /bin/busybox "$applet"; }; done
    mkdir -p etc root tmp; chmod 1777 tmp
    echo "root:x:0:0:root:/root:/bin/sh" > etc/passwd; echo "root:x:0:" > etc/group
    rm -rf usr/share; tar -c .' \
    -c 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' -c 'CMD ["sh"]'
fi

if ! have strata-base:static; then
  echo "strata setup: building strata-base:static (one static binary, no shell)"
  tar_of strata-base:static '
    apt-get download -qq tini 2>/dev/null; dpkg-deb -x tini_*.deb deb; mkdir root; cp deb/usr/bin/tini-static root/tini
    cd root; tar -c .' \
    -c 'ENTRYPOINT ["/tini", "--"]'
fi
