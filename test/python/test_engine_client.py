"""The plugin's engine client against a stand-in engine on a unix socket: a
slow answer is waited for, a dead engine is noticed at once."""

import base64
import hashlib
import os
import socket
import struct
import threading
import time

import pytest

from strata_ansible import engine, protocol

_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'


class StandInEngine:
    """Answers the WebSocket handshake, then each binary frame with an ok
    reply carrying its id, after `delay` seconds, and each ping at once, as
    a live engine's WebSocket library does; or, with `die_after`, closes the
    connection once that many requests were answered; or, `frozen`, answers
    nothing at all, as a stopped process."""

    def __init__(self, path, delay=0.0, die_after=None, frozen=False, answer=None):
        self.delay = delay
        # The reply's fields for a request, beyond its id (default: just ok).
        self.answer = answer or (lambda request: {'type': 'ok'})
        self.die_after = die_after
        self.frozen = frozen
        # Every request received, in order: (connection number, request).
        self.received = []
        self._sending = threading.Lock()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(path)
        self._server.listen(4)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        number = 0
        while True:
            conn, _ = self._server.accept()
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()
            number += 1

    def _serve(self, conn, number):
        request = b''
        while b'\r\n\r\n' not in request:
            request += conn.recv(4096)
        key = next(line.split(b':', 1)[1].strip() for line in request.split(b'\r\n') if line.lower().startswith(b'sec-websocket-key'))
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        conn.sendall(b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                     b'Sec-WebSocket-Accept: ' + accept + b'\r\n\r\n')
        answered = 0
        while True:
            opcode, data = _read_frame(conn)
            if self.frozen:
                continue
            if opcode == 0x9:
                self._send(conn, 0x8A, data)
                continue
            if opcode != 0x2 or (self.die_after is not None and answered >= self.die_after):
                conn.close()
                return
            request = protocol.decode(data)
            self.received.append((number, request))
            reply = protocol.encode(dict(self.answer(request), id=request['id']))
            delay = self.delay if answered else 0
            if delay:
                threading.Timer(delay, self._send, (conn, 0x82, reply)).start()
            else:
                # In order, as the engine answers one host's requests: timer threads may start in any order.
                self._send(conn, 0x82, reply)
            answered += 1

    def _send(self, conn, first_byte, payload):
        head = bytes([first_byte, 126]) + struct.pack('>H', len(payload)) if len(payload) > 125 else bytes([first_byte, len(payload)])
        with self._sending:
            conn.sendall(head + payload)


def _read_frame(conn):
    """(opcode, unmasked payload) of the client's next frame; (None, None) once it has gone."""
    head = _read(conn, 2)
    if head is None:
        return None, None
    length = head[1] & 0x7F
    if length == 126:
        length = struct.unpack('>H', _read(conn, 2))[0]
    elif length == 127:
        length = struct.unpack('>Q', _read(conn, 8))[0]
    mask = _read(conn, 4)
    data = _read(conn, length)
    return head[0] & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def _read(conn, n):
    data = b''
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


@pytest.fixture
def socket_path(tmp_path):
    return str(tmp_path / 'engine.sock')


def test_a_request_waits_for_a_slow_engine_past_the_connect_timeout_and_the_silence_limit(socket_path, monkeypatch):
    # The engine works longer than the silence limit, answering pings meanwhile.
    monkeypatch.setattr(engine, 'CONNECT_TIMEOUT', 0.3)
    monkeypatch.setattr(engine, 'HEARTBEAT', 0.1)
    monkeypatch.setattr(engine, 'SILENCE', 0.5)
    StandInEngine(socket_path, delay=1.0)
    client = engine.EngineClient('ws+unix://' + socket_path, 'token', lambda: 'why')
    started = time.monotonic()
    assert client.request({'type': 'task_done'})['type'] == 'ok'
    assert time.monotonic() - started >= 1.0
    client.close()


def test_an_engine_that_dies_is_noticed_at_once_and_the_message_says_where_to_look(socket_path):
    StandInEngine(socket_path, die_after=1)
    client = engine.EngineClient('ws+unix://' + socket_path, 'token', lambda: 'its errors are printed above.')
    started = time.monotonic()
    with pytest.raises(engine.EngineError, match='lost the connection.*its errors are printed above'):
        client.request({'type': 'task_done'})
    assert time.monotonic() - started < 5
    assert os.path.exists(socket_path)


def test_a_private_engine_killed_by_a_signal_is_said_to_be_so():
    import subprocess
    from strata_ansible.engine import PrivateEngine
    engine = PrivateEngine.__new__(PrivateEngine)  # its process only: no Node needed
    engine._proc = subprocess.Popen(['sleep', '30'])
    engine._proc.kill()
    said = engine.why_lost()
    assert 'killed by signal 9 (SIGKILL)' in said and 'printed above' not in said


def test_an_engine_that_answers_nothing_not_even_pings_is_given_up_with_a_message(socket_path, monkeypatch):
    monkeypatch.setattr(engine, 'HEARTBEAT', 0.1)
    monkeypatch.setattr(engine, 'SILENCE', 0.5)
    stand_in = StandInEngine(socket_path)
    client = engine.EngineClient('ws+unix://' + socket_path, 'token', lambda: 'why')
    stand_in.frozen = True
    started = time.monotonic()
    with pytest.raises(engine.EngineError, match='answered nothing, not even a ping.*stopped or hung'):
        client.request({'type': 'task_done'})
    assert time.monotonic() - started < 3


def _confirming(wrong=None):
    """An engine that answers a task sent ahead as the hit it expects (or, for
    the label `wrong`, as an error), and anything else with ok."""
    def answer(request):
        if wrong is not None and request.get('label') == wrong:
            return {'type': 'error', 'code': 'cache_changed', 'message': 'the cache entry of "%s" was removed' % wrong}
        if request.get('expect'):
            return {'type': 'ok', 'outcome': 'hit', 'fingerprint': request['expect']}
        return {'type': 'ok'}
    return answer


def _task(label, **extra):
    return dict(protocol.task('web', label, {}, True, True, False, False), **extra)


def test_tasks_sent_ahead_are_not_waited_for_and_their_replies_are_checked_before_the_next_reply(socket_path):
    StandInEngine(socket_path, answer=_confirming())
    client = engine.EngineClient('ws+unix://' + socket_path, 'token', lambda: 'why')
    client.send_ahead(_task('two', expect='fp2'), 'fp2')
    client.send_ahead(_task('three', expect='fp3'), 'fp3')
    assert client._unchecked
    assert client.request({'type': 'finish_host', 'host': 'web'})['type'] == 'ok'
    assert not client._unchecked
    client.close()


def test_an_error_for_a_task_sent_ahead_fails_the_next_request_with_the_engines_words(socket_path):
    StandInEngine(socket_path, answer=_confirming(wrong='two'))
    client = engine.EngineClient('ws+unix://' + socket_path, 'token', lambda: 'why')
    client.send_ahead(_task('two', expect='fp2'), 'fp2')
    with pytest.raises(engine.EngineError, match='the cache entry of "two" was removed') as raised:
        client.request({'type': 'finish_host', 'host': 'web'})
    assert raised.value.code == 'cache_changed'
    client.close()


def test_a_reply_to_a_task_sent_ahead_that_is_not_its_hit_fails_the_build(socket_path):
    StandInEngine(socket_path, answer=lambda request: {'type': 'ok', 'outcome': 'hit', 'fingerprint': 'other'})
    client = engine.EngineClient('ws+unix://' + socket_path, 'token', lambda: 'why')
    client.send_ahead(_task('two', expect='fp2'), 'fp2')
    with pytest.raises(engine.EngineError, match='did not confirm the cached result of "two"'):
        client.request({'type': 'finish_host', 'host': 'web'})
    client.close()


def test_a_worker_runs_its_commands_over_a_connection_of_its_own_that_says_so(socket_path, monkeypatch):
    stand_in = StandInEngine(socket_path)
    monkeypatch.setattr(engine, '_commands', None)
    monkeypatch.setattr(engine, '_build_client', engine.EngineClient('ws+unix://' + socket_path, 'token', lambda: 'why'))
    first = engine.commands_client()
    assert engine.commands_client() is first, 'one connection for all of a process\'s commands'
    first.request(protocol.exec_command('c', ['id'], None, b''))
    # A forked worker inherits the parent's client, but not its socket's use.
    monkeypatch.setattr(os, 'getpid', lambda: -1)
    second = engine.commands_client()
    assert second is not first
    engine.close_commands_client()
    hellos = [(number, request.get('purpose')) for number, request in stand_in.received if request['type'] == 'hello']
    assert hellos == [(0, 'build'), (1, 'exec'), (2, 'exec')]
    assert [(n, r['type']) for n, r in stand_in.received if r['type'] != 'hello'] == [(1, 'exec')]


def test_commands_without_a_build_say_the_connection_is_strata_s_own(monkeypatch):
    monkeypatch.setattr(engine, '_commands', None)
    monkeypatch.setattr(engine, '_build_client', None)
    with pytest.raises(engine.EngineError, match='runs only the tasks a strata build sends'):
        engine.commands_client()
