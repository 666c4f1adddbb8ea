"""The strata connection: what it asks the engine to run for Ansible's
commands and files, and what it leaves to community.docker's connection."""

import sys

import pytest
from ansible.errors import AnsibleError
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import become_loader, connection_loader

from strata_ansible import build, engine

connection_loader.add_directory(build.CONNECTION_PLUGINS)


class FakeClient:
    """Records each exec frame; answers with `exit_code` and fixed output."""

    def __init__(self, exit_code=0):
        self.frames = []
        self.exit_code = exit_code

    def request(self, frame):
        self.frames.append(frame)
        return {'exit_code': self.exit_code, 'stdout': b'out', 'stderr': b'err'}


class FakeCli:
    def __init__(self):
        self.calls = []

    def exec_command(self, cmd, in_data=None, sudoable=False):
        self.calls.append(('exec', cmd))
        return 0, b'', b''

    def put_file(self, in_path, out_path):
        self.calls.append(('put', out_path))

    def close(self):
        pass


@pytest.fixture
def client(monkeypatch):
    fake = FakeClient()
    monkeypatch.setattr(engine, 'commands_client', lambda: fake)
    return fake


def _connection(monkeypatch, user=None):
    conn = connection_loader.get('strata', PlayContext(), None)
    assert conn is not None, 'the strata connection loads from python_shim/connection'
    conn.set_options(direct={'remote_addr': 'strata-build-x', 'remote_user': user, 'docker_extra_args': '-H unix:///d.sock'})
    cli = FakeCli()
    monkeypatch.setattr(conn, '_cli', lambda: cli)
    return conn, cli


def test_a_command_runs_through_the_engine_with_its_input_as_the_user_asked(client, monkeypatch):
    conn, cli = _connection(monkeypatch, user='app')
    assert conn.exec_command('echo hi', in_data=b'module') == (0, b'out', b'err')
    frame, = client.frames
    assert frame['type'] == 'exec' and frame['container'] == 'strata-build-x' and frame['user'] == 'app'
    assert frame['command'][1:] == ['-c', 'echo hi'] and frame['stdin'] == b'module'
    assert cli.calls == []


def test_a_file_goes_in_with_dd_under_root_and_a_failure_says_which(client, monkeypatch, tmp_path):
    conn, cli = _connection(monkeypatch)
    source = tmp_path / 'payload'
    source.write_bytes(b'content')
    conn.put_file(str(source), 'relative/dest')
    assert client.frames[0]['command'][2].startswith('dd of=/relative/dest bs=')
    assert client.frames[0]['stdin'] == b'content'
    client.exit_code = 1
    with pytest.raises(AnsibleError, match='failed to transfer file .*payload to relative/dest'):
        conn.put_file(str(source), 'relative/dest')


def test_a_password_prompt_and_a_big_file_go_through_community_docker(client, monkeypatch, tmp_path):
    conn, cli = _connection(monkeypatch)
    monkeypatch.setattr(conn, 'become', become_loader.get('sudo'))
    conn.become.set_options(direct={'become_pass': 'secret'})
    command = conn.become.build_become_command('id', conn._shell)  # as an action does: the prompt is now expected
    conn.exec_command(command, sudoable=True)
    source = tmp_path / 'big'
    source.write_bytes(b'x' * 11)
    monkeypatch.setattr(sys.modules[type(conn).__module__], 'INLINE_PUT_BYTES', 10)
    conn.put_file(str(source), '/big')
    assert cli.calls == [('exec', command), ('put', '/big')]
    assert client.frames == []


def test_a_command_that_is_not_utf8_goes_through_community_docker(client, monkeypatch):
    conn, cli = _connection(monkeypatch)
    conn.exec_command('cat /raw-\udcff')  # the byte 0xff, as Ansible's surrogateescape text carries it
    assert cli.calls == [('exec', 'cat /raw-\udcff')] and client.frames == []
