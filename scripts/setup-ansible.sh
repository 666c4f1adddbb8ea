#!/usr/bin/env bash
# Installs extra ansible-core versions for the test matrix, from Debian's
# archive, without touching the host's apt sources:
#
#   scripts/setup-ansible.sh 2.19 2.22
#
# Each VERSION gets .cache/ansible/VERSION/bin/ with ansible-playbook, ansible,
# ansible-doc, ansible-galaxy and python: arguments, environment, exit code and
# separate stdout/stderr are passed through.
#   2.19  trixie's ansible-core, extracted under .cache/ansible/2.19/root and run
#         on the host's /usr/bin/python3 (bookworm's 3.11) with PYTHONPATH.
#   2.22  sid's ansible-core, which needs Python 3.12+: run in the controller
#         image strata-controller:sid (debootstrap, built when missing), with
#         the repo, $PWD, /tmp, the Docker socket, node and the strata data
#         folder mounted at the same paths (.cache/ansible/2.22/run says how).
# Both get community.docker and ansible.posix from the same suite's `ansible`
# package (only those collections; bookworm's community.docker 3.4.7 fails on 2.19+).
#
# Packages are fetched with a throwaway apt state per suite under
# .cache/ansible/apt; the .debs stay in .cache/ansible/debs. A version that is
# set up is not fetched again: delete .cache/ansible/VERSION (and for 2.22
# `docker rmi strata-controller:sid`) to take the suite's newer candidate.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=$repo/.cache/ansible
debs=$cache/debs
log=$cache/setup.log
controller_image=strata-controller:sid
# python3-cffi-backend: python3-cryptography depends on the virtual python3-cffi-backend-api-*,
# which debootstrap does not follow. The collections are extracted from `ansible` instead of
# installing it (2 MB and 1 s against 247 MB and 3 s more). rsync: ansible.posix.synchronize.
controller_packages=python3,python3-cffi-backend,ansible-core,python3-msgpack,python3-websocket,python3-pytest,docker-cli,rsync
collections=(community/docker ansible/posix)
# What an installed version was made with; a version or image made another way is made again.
recipe="collections: ${collections[*]}; controller packages: $controller_packages"
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-http://deb.debian.org/debian}

die() { echo "strata setup: $*" >&2; exit 1; }

usage() {
  echo "usage: scripts/setup-ansible.sh VERSION... (known: 2.19 from Debian trixie, 2.22 from Debian sid)" >&2
  exit 2
}

# run WHAT CMD...: runs CMD (a command or a function) with its output in $log;
# on failure shows the log's tail and stops.
log_started=
run() {
  local what=$1; shift
  if [ -z "$log_started" ]; then mkdir -p "$cache"; : >"$log"; log_started=1; fi
  echo "+ $*" >>"$log"
  if ! "$@" >>"$log" 2>&1; then
    tail -20 "$log" >&2
    die "$what failed; the whole log is $log"
  fi
}

need() {  # need COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || die "$1 is missing: run \`make setup\` (or apt-get install -y $2)"
}

# ---------------------------------------------------------------------------
# A throwaway apt state per suite: its own sources.list, lists and cache under
# .cache/ansible/apt/SUITE; the host's sources, pins and status are not read.
apt_opts=()
apt_state() {  # apt_state SUITE: sets apt_opts, updating the lists when missing or older than a day
  local suite=$1 dir=$cache/apt/$1
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" >"$dir/sources.list"
  apt_opts=(-q -o Dir::Etc::sourcelist="$dir/sources.list" -o Dir::Etc::sourceparts=/dev/null
            -o Dir::Etc::preferences=/dev/null -o Dir::Etc::preferencesparts=/dev/null
            -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" -o Dir::State::status=/dev/null
            -o APT::Sandbox::User=root)
  if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null)" ]; then
    echo "strata setup: reading Debian $suite's package lists from $mirror"
    run "apt-get update for Debian $suite (from $mirror; is debian-archive-keyring new enough to check $suite's signature?)" \
      apt-get "${apt_opts[@]}" update
  fi
}

candidate() {  # candidate PKG: SUITE's version of PKG (apt_state first)
  apt-cache "${apt_opts[@]}" policy "$1" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

download() { (cd "$debs" && apt-get "${apt_opts[@]}" download "$@"); }

fetched=
fetch() {  # fetch PKG VERSION: sets $fetched to the .deb in $debs, downloading it unless there
  local pkg=$1 ver=$2 f
  for f in "$debs/${pkg}_${ver//:/%3a}"_*.deb; do [ -f "$f" ] && { fetched=$f; return; }; done
  mkdir -p "$debs"
  echo "strata setup: downloading $pkg $ver"
  run "downloading $pkg $ver" download "$pkg=$ver"
  for f in "$debs/${pkg}_${ver//:/%3a}"_*.deb; do [ -f "$f" ] && { fetched=$f; return; }; done
  die "apt-get downloaded no .deb for $pkg $ver into $debs; see $log"
}

suite_core=
suite_debs() {  # suite_debs SUITE VERSION [core]: fetches SUITE's ansible (and with `core` its ansible-core,
  # whose version must be VERSION.x in any case); sets suite_core, ansible_deb, core_deb
  local suite=$1 want=$2 with_core=${3:-}
  apt_state "$suite"
  suite_core=$(candidate ansible-core)
  [ -n "$suite_core" ] || die "Debian $suite has no ansible-core candidate; see $cache/apt/$suite"
  case $suite_core in
    "$want".*) ;;
    *) die "Debian $suite now has ansible-core $suite_core, not $want.x: this script's version table needs updating" ;;
  esac
  if [ -n "$with_core" ]; then fetch ansible-core "$suite_core"; core_deb=$fetched; fi
  local ansible_ver; ansible_ver=$(candidate ansible)
  [ -n "$ansible_ver" ] || die "Debian $suite has no ansible package (needed for ${collections[*]})"
  fetch ansible "$ansible_ver"; ansible_deb=$fetched
}

extract_collections() {  # extract_collections ANSIBLE_DEB DIR: only those in $collections
  local paths=() c
  for c in "${collections[@]}"; do paths+=("./usr/lib/python3/dist-packages/ansible_collections/$c"); done
  dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" "${paths[@]}"
  for c in "${paths[@]}"; do [ -f "$2/$c/MANIFEST.json" ] || { echo "no $c/MANIFEST.json in $1"; return 1; }; done
}

# ---------------------------------------------------------------------------
# Host mode (2.19): ansible-core extracted, run on /usr/bin/python3.

check_host_deps() {  # check_host_deps PYTHONPATH: ansible-core's Requires-Python and Requires-Dist met by the host's packages
  PYTHONPATH=$1 /usr/bin/python3 - <<'EOF'
import importlib.metadata as md, platform, sys
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
dist = md.distribution('ansible-core')
bad = []
needs = dist.metadata.get('Requires-Python')
if needs and not SpecifierSet(needs).contains(platform.python_version(), prereleases=True):
    bad.append('Python %s (have %s)' % (needs, platform.python_version()))
for line in dist.requires or []:
    req = Requirement(line)
    if req.marker and not req.marker.evaluate({'extra': ''}):
        continue
    try:
        have = md.version(req.name)
    except md.PackageNotFoundError:
        bad.append('%s (missing)' % req)
        continue
    if not req.specifier.contains(have, prereleases=True):
        bad.append('%s (have %s)' % (req, have))
import ansible.release
print('ansible-core', ansible.release.__version__, 'from', ansible.release.__file__)
if bad:
    sys.exit('ansible-core %s needs what the host lacks: %s' % (dist.version, ', '.join(bad)))
EOF
}

setup_host_version() {  # setup_host_version VERSION SUITE
  local v=$1 suite=$2 dir=$cache/$1
  local root=$dir/root site=$dir/root/usr/lib/python3/dist-packages installed_now=
  if [ ! -f "$dir/installed" ] || [ "$(cat "$dir/recipe" 2>/dev/null)" != "$recipe" ]; then
    installed_now=1
    echo "strata setup: installing ansible-core $v from Debian $suite into $dir"
    suite_debs "$suite" "$v" core
    rm -rf "$dir" "$dir.new"; mkdir -p "$dir.new"
    run "extracting $core_deb (delete it to fetch it again)" dpkg-deb -x "$core_deb" "$dir.new/root"
    run "extracting ${collections[*]} from $ansible_deb (delete it to fetch it again)" extract_collections "$ansible_deb" "$dir.new/root"
    run "checking ansible-core $suite_core against the host's Python packages (apt-get install the missing python3-* ones)" \
      check_host_deps "$dir.new/root/usr/lib/python3/dist-packages"
    echo "$suite_core (Debian $suite) on /usr/bin/python3" >"$dir.new/installed"
    echo "$recipe" >"$dir.new/recipe"
    changed=1
    mv "$dir.new" "$dir"
  fi
  mkdir -p "$dir/bin"
  local cmd
  for cmd in ansible-playbook ansible ansible-doc ansible-galaxy; do
    write_wrapper "$dir/bin/$cmd" <<EOF
#!/bin/sh
# $cmd of ansible-core $(cat "$dir/installed"); made by scripts/setup-ansible.sh
PYTHONPATH=$(printf %q "$site")\${PYTHONPATH:+:\$PYTHONPATH}
export PYTHONPATH
exec /usr/bin/python3 $(printf %q "$root/usr/bin/$cmd") "\$@"
EOF
  done
  write_wrapper "$dir/bin/python" <<EOF
#!/bin/sh
# /usr/bin/python3 with ansible-core $(cat "$dir/installed") first on its path; made by scripts/setup-ansible.sh
PYTHONPATH=$(printf %q "$site")\${PYTHONPATH:+:\$PYTHONPATH}
export PYTHONPATH
exec /usr/bin/python3 "\$@"
EOF
  if [ -n "$installed_now" ]; then  # just installed: community.docker must be the extracted one, not bookworm's
    local where
    where=$(ANSIBLE_NOCOLOR=1 "$dir/bin/ansible-doc" -t connection community.docker.docker 2>&1 | sed -n '1s/.*(\(.*\)).*/\1/p')
    case $where in
      "$site"/*) ;;
      *) die "ansible-doc $v loads community.docker from '${where:-nowhere}', not from $site" ;;
    esac
  fi
}

# ---------------------------------------------------------------------------
# Controller mode (2.22): sid's ansible-core in the image strata-controller:sid.

audit() { ! chroot "$1" dpkg --audit | grep .; }

import_rootfs() {  # import_rootfs DIR ANSIBLE_CORE_VERSION
  tar -C "$1" -c . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' -c "LABEL strata.ansible-core=$2" -c "LABEL strata.recipe=\"$recipe\"" -c 'CMD ["bash"]' - "$controller_image"
}

build_controller() {  # build_controller VERSION
  local v=$1 rootfs
  need debootstrap debootstrap
  suite_debs sid "$v"
  rootfs=$(mktemp -d /var/tmp/strata-controller.XXXXXX)
  # shellcheck disable=SC2064
  trap "rm -rf '$rootfs'" EXIT
  echo "strata setup: building $controller_image (ansible-core $suite_core) with debootstrap from $mirror (about 2 minutes)"
  run "debootstrap of Debian sid with $controller_packages" \
    debootstrap --variant=minbase --include="$controller_packages" sid "$rootfs" "$mirror"
  # debootstrap can end well with packages left unconfigured (a virtual dependency it did not follow)
  run "debootstrap left packages unconfigured (dpkg --audit above); add the missing ones to controller_packages" \
    audit "$rootfs"
  run "extracting ${collections[*]} from $ansible_deb (delete it to fetch it again)" extract_collections "$ansible_deb" "$rootfs"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/*
  run "docker import of $controller_image" import_rootfs "$rootfs" "$suite_core"
  rm -rf "$rootfs"; trap - EXIT
  echo "strata setup: built $controller_image ($(docker image inspect -f '{{.Size}}' "$controller_image" | awk '{printf "%d MB", $1/1e6}'))"
}

setup_controller_version() {  # setup_controller_version VERSION
  local v=$1 dir=$cache/$1 core
  need docker docker.io
  docker info >/dev/null 2>&1 || die "no Docker daemon answers: run \`make docker\` (scripts/setup-docker.sh)"
  core=$(docker image inspect -f '{{index .Config.Labels "strata.ansible-core"}}' "$controller_image" 2>/dev/null || true)
  if [ -n "$core" ] && [ "$(docker image inspect -f '{{index .Config.Labels "strata.recipe"}}' "$controller_image")" != "$recipe" ]; then
    echo "strata setup: $controller_image was made with another recipe; making it again"
    docker rmi "$controller_image" >/dev/null
    core=
  fi
  local built=
  if [ -z "$core" ]; then build_controller "$v"; core=$suite_core; built=1; changed=1; fi
  case $core in
    "$v".*) ;;
    *) die "$controller_image has ansible-core $core, not $v.x: docker rmi $controller_image and run this again" ;;
  esac
  mkdir -p "$dir/bin"
  write_file "$dir/installed" <<<"$core (Debian sid) in $controller_image"
  write_controller_run "$dir"
  local cmd
  for cmd in ansible-playbook ansible ansible-doc ansible-galaxy; do
    write_wrapper "$dir/bin/$cmd" <<EOF
#!/bin/sh
# $cmd of ansible-core $core in $controller_image; made by scripts/setup-ansible.sh
exec $(printf %q "$dir/run") $cmd "\$@"
EOF
  done
  write_wrapper "$dir/bin/python" <<EOF
#!/bin/sh
# python3 of $controller_image, with ansible-core $core; made by scripts/setup-ansible.sh
exec $(printf %q "$dir/run") python3 "\$@"
EOF
  if [ -n "$built" ]; then  # just built: check what the wrappers rely on inside the container
    local out
    out=$(ANSIBLE_NOCOLOR=1 "$dir/run" sh -c 'node --version && docker version --format "docker {{.Client.Version}} -> {{.Server.Version}}" \
      && ansible-doc -t connection community.docker.docker | head -1' 2>&1) \
      || die "the controller cannot run node or docker against the mounted socket: $out"
    printf 'strata setup:   %s\n' "${out//$'\n'/$'\n'strata setup:   }"
  fi
}

write_controller_run() {  # write_controller_run DIR: DIR/run (docker run as if on the host) and DIR/entry.py (its PID 1's child)
  local dir=$1
  { cat <<EOF
#!/usr/bin/env bash
# Runs a command in $controller_image as if on this host (made by scripts/setup-ansible.sh):
# same paths for the repo, \$PWD, /tmp (and \$TMPDIR), the Docker socket, node and the strata
# data folder; every ANSIBLE_*, STRATA_*, DOCKER_* variable (and SOURCE_DATE_EPOCH, PYTHONPATH, TMPDIR,
# NO_COLOR, TZ) passed through; host network; no tty, so stdout and stderr stay apart; the exit code is
# the command's. Signals sent to this process reach the command (docker-init, then entry.py).
set -euo pipefail
repo=$(printf %q "$repo")
image=$controller_image
entry=$(printf %q "$dir/entry.py")
EOF
  cat <<'EOF'
# Host pid namespace: an engine names its build containers by its pid, and removes those of
# engines whose pid is gone; a pid of the container's own namespace would look gone on the host.
args=(run --rm -i --init --network host --pid host --log-driver none -w "$PWD" -e LANG=C.UTF-8)
mounts=()
bind() {  # bind PATH [ro]: at the same path, unless a mounted folder already holds it
  local p=$1 m
  for m in ${mounts[@]+"${mounts[@]}"}; do case $p/ in "$m"/*) return ;; esac; done
  mounts+=("$p"); args+=(-v "$p:$p${2:+:$2}")
}
bind /tmp
bind "$repo"
[ -n "${TMPDIR:-}" ] && [ -d "$TMPDIR" ] && bind "$TMPDIR"
case $PWD in  # the host's system folders would shadow the image's
  / | /usr | /usr/* | /etc | /etc/* | /bin | /bin/* | /sbin | /sbin/* | /lib* | /proc* | /sys* | /dev* | /run | /run/* | /var/run*) ;;
  *) bind "$PWD" ;;
esac
docker_host=${DOCKER_HOST:-unix:///var/run/docker.sock}
case $docker_host in unix://*) [ -S "${docker_host#unix://}" ] && bind "${docker_host#unix://}" ;; esac
# With SOURCE_DATE_EPOCH the engine clamps file times in Docker's storage: it must see it where the daemon does.
[ -d /var/lib/docker ] && bind /var/lib/docker
[ -n "${DOCKER_CERT_PATH:-}" ] && [ -d "$DOCKER_CERT_PATH" ] && bind "$DOCKER_CERT_PATH" ro
[ -n "${DOCKER_CONFIG:-}" ] && [ -d "$DOCKER_CONFIG" ] && bind "$DOCKER_CONFIG" ro
# The engine's secret key is under $XDG_DATA_HOME/strata: the host's one.
data=${XDG_DATA_HOME:-$HOME/.local/share}
mkdir -p "$data/strata"
bind "$data/strata"
args+=(-e "XDG_DATA_HOME=$data")
# What strata remembers between builds (what base images hold, the plugin's code memo) is
# under $XDG_CACHE_HOME/strata: the host's too. The per-user engine's socket stays inside.
cache=${XDG_CACHE_HOME:-$HOME/.cache}
mkdir -p "$cache/strata"
bind "$cache/strata"
args+=(-e "XDG_CACHE_HOME=$cache" -e XDG_RUNTIME_DIR=/run)
# node (the plugin spawns `node bin/strata.js`): the host's binary, where the host finds it.
node=${STRATA_NODE:-node}
case $node in */*) ;; *) node=$(command -v "$node" || true) ;; esac
if [ -n "$node" ] && real=$(readlink -f "$node") && [ -f "$real" ]; then
  args+=(-v "$real:$node:ro")
  case $node in /usr/bin/node | /usr/local/bin/node) ;; *) args+=(-v "$real:/usr/local/bin/node:ro") ;; esac
fi
# Variables by name only: docker takes their values from this environment (newlines and all).
# DOCKER_* are for the command inside; this docker client always talks to the local daemon,
# whose paths the mounts name, so they go by value and are left out of its own environment.
local_docker=(env)
while IFS= read -r name; do
  case $name in
    ANSIBLE_* | STRATA_* | SOURCE_DATE_EPOCH | PYTHONPATH | TMPDIR | NO_COLOR | TZ) args+=(-e "$name") ;;
    DOCKER_*) args+=(-e "$name=${!name}"); local_docker+=(-u "$name") ;;
  esac
done < <(compgen -e)
exec "${local_docker[@]}" docker "${args[@]}" "$image" python3 "$entry" "$@"
EOF
  } | write_wrapper "$dir/run"
  write_file "$dir/entry.py" <<'EOF'
# The command's parent inside the controller container (made by scripts/setup-ansible.sh).
# PID 1 is docker-init, which passes every signal the container gets to this process; it passes
# them on to the command alone (a private strata engine runs in its own session, as on the host).
# When the command has exited, it stops the strata engines (node) in this container, as `strata stop` does, and
# waits (60 s at most) for them to exit: the per-user engine a build starts would otherwise idle on, and the
# container's end would kill it (or a private one) before it has removed its build containers.
import os, signal, subprocess, sys, time

try:
    child = subprocess.Popen(sys.argv[1:])
except (OSError, IndexError) as e:
    print('strata controller: cannot run %r: %s' % (sys.argv[1:], e), file=sys.stderr)
    sys.exit(127)


def forward(signum, _frame):
    try:
        child.send_signal(signum)
    except ProcessLookupError:
        pass


for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
    signal.signal(s, forward)
rc = child.wait()


def read(path):
    with open(path) as f:
        return f.read()


def engines():
    """The node processes of this container (its cgroup): the host's pids are all visible."""
    mine = read('/proc/self/cgroup')
    for pid in os.listdir('/proc'):
        try:
            if read('/proc/%s/comm' % pid).strip() == 'node' and read('/proc/%s/cgroup' % pid) == mine:
                yield pid
        except OSError:
            pass


for pid in engines():
    try:
        os.kill(int(pid), signal.SIGTERM)
    except ProcessLookupError:
        pass
deadline = time.monotonic() + 60
while time.monotonic() < deadline and any(engines()):
    time.sleep(0.1)
sys.exit(128 - rc if rc < 0 else rc)
EOF
}

# write_file FILE < TEXT: writes FILE only when its text changed; write_wrapper makes it executable too
write_file() {
  local text mode=${2:-644}; text=$(cat)
  [ -f "$1" ] && [ "$(cat "$1")" = "$text" ] && [ "$(stat -c %a "$1")" = "$mode" ] && return
  printf '%s\n' "$text" >"$1.tmp" && chmod "$mode" "$1.tmp" && mv "$1.tmp" "$1"
}
write_wrapper() { write_file "$1" 755; }

# ---------------------------------------------------------------------------
[ $# -gt 0 ] || usage
for v in "$@"; do
  case $v in 2.19 | 2.22) ;; *) echo "strata setup: unknown ansible-core version '$v'" >&2; usage ;; esac
done
need dpkg-deb dpkg
need apt-get apt
for v in "$@"; do
  changed=
  case $v in
    2.19) setup_host_version 2.19 trixie ;;
    2.22) setup_controller_version 2.22 ;;
  esac
  [ -z "$changed" ] || echo "strata setup: ansible-core $(cat "$cache/$v/installed"): $cache/$v/bin/"
done
