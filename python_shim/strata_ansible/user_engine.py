"""A per-user engine that outlives the build that started it, the way
Gradle's daemon or buildkitd does: the next build connects to it in
milliseconds instead of starting Node. It exits by itself after an idle time.

One engine serves one combination of strata release and engine settings
(the environment variables the engine reads when it starts: src/engine/
settings.ts, and Docker's own), so a build never meets an engine of another
release, or one talking to another Docker daemon or registry cache. Each
such engine has its own socket, token, pid and log file, in a directory only
this user can open: $XDG_RUNTIME_DIR/strata, else ~/.cache/strata/run
(`strata stop` looks there too: src/cli/stop.ts)."""

import errno
import fcntl
import hashlib
import json
import os
import secrets
import socket
import stat
import subprocess
import time

from .engine import ENGINE_SCRIPT, PACKAGE_ROOT, START_TIMEOUT, EngineError
from .protocol import PROTOCOL_VERSION

# What the engine reads from the environment when it starts; an engine
# started with other values is another engine.
ENGINE_ENVIRONMENT = ('DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH',
                      'STRATA_CACHE_REPO', 'STRATA_SECRET', 'STRATA_RUNTIME_FROM', 'XDG_DATA_HOME', 'XDG_CACHE_HOME')


def runtime_dir(env=None):
    """This user's engine directory, made mode 0700; refused when another
    user owns it or others may enter it (the rule `strata stop` applies to
    it and to each pid file in it: src/cli/private-path.ts)."""
    env = os.environ if env is None else env
    base = env.get('XDG_RUNTIME_DIR')
    path = os.path.join(base, 'strata') if base and os.path.isdir(base) else os.path.join(
        env.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache'), 'strata', 'run')
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.stat(path)
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise EngineError('%s, where strata keeps its engines\' sockets, must belong to you and be closed to others '
                          '(mode 0700): fix it with `chmod 700 %s`, or remove it' % (path, path))
    return path


def engine_key(env=None):
    """The release, protocol and engine settings this build needs, as a short
    name. The protocol counts apart from the release: a checkout between
    releases must not reuse an engine that speaks another protocol."""
    env = os.environ if env is None else env
    with open(os.path.join(PACKAGE_ROOT, 'package.json')) as f:
        version = json.load(f)['version']
    digest = hashlib.sha256(('%s\0protocol=%d' % (version, PROTOCOL_VERSION)).encode())
    for name in ENGINE_ENVIRONMENT:
        digest.update(('\0%s=%s' % (name, env.get(name, ''))).encode())
    return digest.hexdigest()[:16]


class UserEngine:
    """This user's engine for this build's release and settings: the one
    running, or one started now, in the background, for this and later
    builds. Starting it happens as early as the run allows; connecting waits
    for it only when the first image task needs it."""

    def __init__(self, node, idle_seconds):
        directory = runtime_dir()
        name = os.path.join(directory, 'engine-' + engine_key())
        self._socket, self._token_file, self._log = name + '.sock', name + '.token', name + '.log'
        self._pid_file, self._lock_file = name + '.pid', name + '.lock'
        self.address = 'ws+unix://' + self._socket
        self._proc = None
        if not _answers(self._socket):
            self._start(node, idle_seconds)

    @property
    def token(self):
        self._wait_until_up()
        with open(self._token_file) as f:
            return f.read().strip()

    def why_lost(self):
        return 'its log, %s, says why.' % self._log

    def _start(self, node, idle_seconds):
        """Starts the engine unless another build, holding the lock first, just did."""
        with open(self._lock_file, 'a') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _answers(self._socket):
                return
            with open(os.open(self._token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'w') as f:
                f.write(secrets.token_hex(24))
            env = {k: v for k, v in os.environ.items() if k not in ('STRATA_TOKEN', 'STRATA_ENGINE')}
            try:
                with open(self._log, 'a') as log:
                    self._proc = subprocess.Popen(
                        [node, ENGINE_SCRIPT, 'serve', '--listen', 'unix:' + self._socket, '--token-file', self._token_file,
                         '--pid-file', self._pid_file, '--idle-exit', str(idle_seconds), '--log-level', 'warn'],
                        stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
            except OSError as e:
                raise EngineError('cannot start the engine with %s %s (%s): install Node 20 and run `make setup` '
                                  '(or `npm ci && npm run build`) in %s' % (node, ENGINE_SCRIPT, e, PACKAGE_ROOT))
            self._wait_until_up()

    def _wait_until_up(self):
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(self._socket):
            if self._proc is not None and self._proc.poll() is not None:
                raise EngineError('the engine did not start (exit code %s); its log, %s, says why:\n%s'
                                  % (self._proc.returncode, self._log, _tail(self._log)))
            if time.monotonic() > deadline:
                raise EngineError('the engine did not answer on %s within %d seconds; its log, %s, says why'
                                  % (self._socket, START_TIMEOUT, self._log))
            time.sleep(0.02)


def _answers(path):
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
        return True
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ECONNREFUSED):
            return False
        return True  # busy (a full backlog): alive
    finally:
        probe.close()


def _tail(path, lines=10):
    try:
        with open(path) as f:
            return ''.join(f.readlines()[-lines:])
    except OSError:
        return ''
