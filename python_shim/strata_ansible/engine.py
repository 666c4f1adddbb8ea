"""Talking to the strata engine: connecting (to the engine STRATA_ENGINE
names, or to a private one started for this run), and requests over the
WebSocket, each waited for, except the tasks replayed from a hit's `ahead`.
A worker process that runs a task in a build container has a connection of
its own to the same engine, for the task's commands (`commands_client`)."""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from urllib.parse import urlparse

import websocket

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.utils.display import Display

from . import protocol
from .stopwatch import stopwatch

display = Display()

# python_shim/strata_ansible/engine.py -> the package root holding bin/strata.js
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENGINE_SCRIPT = os.path.join(PACKAGE_ROOT, 'bin', 'strata.js')
CONNECT_TIMEOUT = 10
START_TIMEOUT = 30


class EngineError(AnsibleError):
    """The engine could not be reached, or answered a request with an error."""

    def __init__(self, message, code=None):
        super().__init__('strata: %s' % message)
        self.code = code


# While a request is awaited the engine is pinged this often (seconds); one
# that answers nothing at all, not even a ping, for SILENCE is stopped or hung.
# A busy engine answers pings: its work (a commit, a pull) waits on Docker,
# not on its own event loop.
HEARTBEAT = 10.0
SILENCE = 60.0


class EngineClient:
    """One WebSocket to an engine; one build. A request waits as long as the
    engine works on it (a multi-GB layer takes minutes to commit); a dead
    engine is noticed when its connection closes, a stopped or hung one when
    it stops answering pings. `why_lost` says where the engine's own account
    of a lost connection is."""

    def __init__(self, address, token, why_lost, tls_ca=None, purpose='build'):
        self.address = address
        self._endpoint = (address, token, why_lost, tls_ca)
        self._why_lost = why_lost
        self._ws = _connect(address, token, tls_ca)
        self._next_id = 0
        # Tasks sent ahead whose replies are not read yet: id -> (label, fingerprint).
        self._unchecked = {}
        try:
            self.hello = self.request(protocol.hello(purpose))
        except EngineError:
            self.close()
            raise

    def request(self, frame):
        """Sends `frame` and waits for its reply, checking on the way the
        replies to tasks sent ahead that arrive first."""
        with stopwatch.timing('engine'):
            return self._reply_to(self._send(frame))

    def send_ahead(self, frame, fingerprint):
        """Sends a task already replayed as the hit `fingerprint` (from a
        reply's `ahead`) without waiting: its reply is checked when a later
        request's reply is awaited, the host's next one at the latest."""
        with stopwatch.timing('engine'):
            self._unchecked[self._send(frame)] = (frame['label'], fingerprint)

    def _send(self, frame):
        self._next_id += 1
        try:
            self._ws.send_binary(protocol.encode(dict(frame, id=self._next_id)))
        except (websocket.WebSocketException, OSError) as e:
            raise self._lost(e)
        return self._next_id

    def _reply_to(self, wanted):
        while True:
            try:
                reply = protocol.decode(self._receive())
            except (websocket.WebSocketException, OSError) as e:
                raise self._lost(e)
            # What went wrong without failing the build, said where the user looks.
            # One line each, as the engine wrote it: Ansible's warning() would wrap it, or split it from its prefix.
            for warning in reply.get('warnings', ()):
                display.display('[WARNING]: strata: %s' % warning, color=C.COLOR_WARN, stderr=True)
            if reply.get('id') == wanted:
                if reply.get('type') == 'error':
                    raise EngineError(reply.get('message', 'unknown error'), code=reply.get('code'))
                return reply
            self._check_ahead(reply, wanted)

    def _check_ahead(self, reply, wanted):
        """A reply to a task sent ahead must confirm the hit it was replayed as."""
        sent = self._unchecked.pop(reply.get('id'), None)
        if sent is None:
            raise EngineError('the engine answered request %s with a reply to %s' % (wanted, reply.get('id')))
        if reply.get('type') == 'error':
            raise EngineError(reply.get('message', 'unknown error'), code=reply.get('code'))
        label, fingerprint = sent
        if reply.get('outcome') != 'hit' or reply.get('fingerprint') != fingerprint:
            raise EngineError('the engine did not confirm the cached result of "%s" that this build replayed '
                              '(a strata bug: please report it); no image is tagged. Run the build again.' % label)

    def _lost(self, error):
        return EngineError('lost the connection to the engine at %s (%s); %s' % (self.address, error, self._why_lost()))

    def _receive(self):
        """The next message, pinging the engine while it is awaited."""
        last_heard = time.monotonic()
        self._ws.settimeout(HEARTBEAT)
        try:
            while True:
                try:
                    opcode, data = self._ws.recv_data(control_frame=True)
                except websocket.WebSocketTimeoutException:
                    silent = time.monotonic() - last_heard
                    if silent >= SILENCE:
                        raise EngineError('the engine at %s has answered nothing, not even a ping, for %d seconds: '
                                          'it is stopped or hung (a `kill -STOP`, a frozen machine). Start the build '
                                          'again once it answers, or stop it.' % (self.address, silent))
                    self._ws.ping()
                    continue
                last_heard = time.monotonic()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    raise websocket.WebSocketConnectionClosedException('the engine closed the connection')
                if opcode in (websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_TEXT):
                    return data
        finally:
            self._ws.settimeout(None)

    def for_commands(self):
        """A new connection to the same engine that only runs commands in
        build containers: a worker process's, never shared with its parent."""
        return EngineClient(*self._endpoint, purpose='exec')

    def close(self):
        try:
            self._ws.close()
        except (websocket.WebSocketException, OSError):
            pass  # the connection is gone already, which is what closing wants


# The build's client, and this process's connection for running commands
# (pid, client): a worker is a fork of ansible-playbook and inherits both,
# but must not write on its parent's socket.
_build_client = None
_commands = None


def commands_client():
    """This process's connection for the commands of a task that runs in a
    build container, opened on first use."""
    global _commands
    if _commands is None or _commands[0] != os.getpid():
        if _build_client is None:
            raise EngineError('the strata connection runs only the tasks a strata build sends to its build containers; '
                              'use another connection for hosts strata does not build')
        _commands = (os.getpid(), _build_client.for_commands())
    return _commands[1]


def close_commands_client():
    global _commands
    if _commands is not None and _commands[0] == os.getpid():
        _commands[1].close()
    _commands = None


# Over TCP, an engine whose machine vanished is given up after about a minute
# of silence (idle 30 s, then 3 probes 10 s apart); a busy engine still answers them.
_KEEPALIVE = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)] + [
    (socket.IPPROTO_TCP, getattr(socket, name), value)
    for name, value in (('TCP_KEEPIDLE', 30), ('TCP_KEEPINTVL', 10), ('TCP_KEEPCNT', 3)) if hasattr(socket, name)]


def _connect(address, token, tls_ca=None):
    header = ['Authorization: Bearer %s' % token]
    try:
        if address.startswith('ws+unix://'):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect(urlparse(address).path)
            ws = websocket.create_connection('ws://localhost/', socket=sock, header=header, timeout=CONNECT_TIMEOUT)
        else:
            sslopt = {'ca_certs': tls_ca} if tls_ca else None
            ws = websocket.create_connection(address, header=header, timeout=CONNECT_TIMEOUT, sockopt=_KEEPALIVE, sslopt=sslopt)
        # Connecting has a time limit; waiting for the engine's answer has none.
        ws.settimeout(None)
    except websocket.WebSocketBadStatusException as e:
        if e.status_code == 401:
            raise EngineError('the engine at %s refused the token: set STRATA_TOKEN to the token `strata serve` printed' % address)
        raise EngineError('the engine at %s answered HTTP %s instead of a WebSocket' % (address, e.status_code))
    except (OSError, websocket.WebSocketException) as e:
        raise EngineError('cannot reach the engine at %s (%s): start one with `strata serve`, '
                          'or unset STRATA_ENGINE to let each build start its own' % (address, e))
    return ws


class PrivateEngine:
    """An engine started for this run alone. It lives in its own session, so a
    Ctrl-C aimed at ansible-playbook does not kill it before it has removed
    its containers; it exits by itself once this run's connection closes.
    It is started as early as the run allows and waited for only when the
    first image task needs it, so its start-up overlaps Ansible's."""

    def __init__(self, node):
        self._dir = tempfile.mkdtemp(prefix='strata-')
        self.token = secrets.token_hex(24)
        env = dict(os.environ, STRATA_TOKEN=self.token)
        try:
            self._proc = subprocess.Popen(
                # Its warnings reach the build with its replies; only errors go to stderr.
                [node, ENGINE_SCRIPT, 'serve', '--private', '--log-level', 'error',
                 '--listen', 'unix:' + os.path.join(self._dir, 'engine.sock')],
                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        except OSError as e:
            raise EngineError('cannot start the engine with %s %s (%s): install Node 20 and run `make setup` '
                              '(or `npm ci && npm run build`) in %s' % (node, ENGINE_SCRIPT, e, PACKAGE_ROOT))
        self._address = None

    @property
    def address(self):
        if self._address is None:
            self._address = self._read_address()
        return self._address

    def _read_address(self):
        line = self._proc.stdout.readline()
        try:
            return json.loads(line)['engine']
        except (ValueError, KeyError, TypeError):
            self._proc.wait(timeout=START_TIMEOUT)
            raise EngineError('the engine did not start (exit code %s); its error is above. '
                              'Has `npm run build` been run in %s?' % (self._proc.returncode, PACKAGE_ROOT))

    def why_lost(self):
        """Where to read why this run's engine dropped its connection: it
        writes its errors to this run's stderr."""
        try:
            code = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return 'the engine this build started is still running; its errors, if any, are printed above.'
        if code < 0:
            return ('the engine this build started was killed by signal %d (%s), so it could say nothing: '
                    'something outside strata stopped it (the kernel when memory runs out, a kill).' % (-code, _signal_name(-code)))
        return ('the engine this build started exited with code %s; its last words are printed above '
                '(run again with STRATA_ENGINE set to a `strata serve --log-level debug` to see everything it did).' % code)

    def wait(self):
        """Waits for the engine to finish removing its containers and exit."""
        try:
            self._proc.wait(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._proc.terminate()
        shutil.rmtree(self._dir, ignore_errors=True)

    def let_go(self):
        """Leaves the engine to exit by itself, which it does once its build's
        connection has closed; only its socket's folder is removed now."""
        shutil.rmtree(self._dir, ignore_errors=True)

    def stop(self):
        """Stops an engine no build connected to (it waits for one otherwise)."""
        self._proc.terminate()
        self.wait()


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return 'unknown'


def connect(settings, private):
    """A client for this run: to the engine STRATA_ENGINE names, or else to `private`."""
    global _build_client
    if settings.engine:
        if not settings.token:
            raise EngineError('STRATA_ENGINE is set but STRATA_TOKEN is not: set both from the lines `strata serve` printed')
        why = lambda: 'the log of the `strata serve` behind it says why. Run the build again once it is back.'
        _build_client = EngineClient(settings.engine, settings.token, why, settings.tls_ca)
    else:
        _build_client = EngineClient(private.address, private.token, private.why_lost)
    return _build_client
