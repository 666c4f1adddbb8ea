"""The strata connection: what it asks the engine to run for Ansible's
commands and files, and what it leaves to community.docker's connection."""

import os
import sys

import pytest
from ansible.errors import AnsibleError
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import become_loader, connection_loader

from strata_ansible import build, engine, launcher, target

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


def _connection(monkeypatch, user=None, runtime=None):
    monkeypatch.setattr(target, 'current', target.Target('uuid-1', 'strata-build-x', '/dev/strata', '-H unix:///d.sock', runtime))
    conn = connection_loader.get('strata', PlayContext(), None)
    assert conn is not None, 'the strata connection loads from python_shim/connection'
    conn.set_options(direct={'remote_user': user})
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


def test_the_worker_loads_the_strata_connection_for_the_queued_task_alone(monkeypatch):
    loaded = []
    monkeypatch.setattr(connection_loader, 'get_with_context', lambda name, *a, **kw: loaded.append(name))
    target.redirect(connection_loader, 'strata')
    with target.queued(target.Target('uuid-1', 'c', '/dev/strata', '', None)) as where:
        connection_loader.get_with_context('ssh', PlayContext(), task_uuid='uuid-1')
        connection_loader.get_with_context('local', PlayContext(), task_uuid='uuid-1')  # 2.19+: no connection needed
        connection_loader.get_with_context('ssh', PlayContext(), task_uuid='uuid-2')
        connection_loader.get_with_context('ssh', PlayContext())  # an action's own connection (synchronize's)
        assert target.current.replaced == 'ssh'
    connection_loader.get_with_context('ssh', PlayContext(), task_uuid='uuid-1')
    assert loaded == ['strata', 'local', 'ssh', 'ssh', 'ssh']


def test_the_task_sees_the_connection_variables_of_the_connection_ansible_chose(monkeypatch):
    conn, _ = _connection(monkeypatch)
    target.current.replaced = 'ssh'
    seen = {}
    conn.update_vars(seen)
    assert seen['ansible_connection'] == 'ssh'
    assert 'ansible_pipelining' not in seen or seen['ansible_pipelining'] is False
    assert not any('strata' in str(v) or 'docker' in name for name, v in seen.items()), seen
    assert conn.get_option('pipelining') is True


def test_temp_files_and_async_jobs_go_to_scratch_whatever_the_variables_say(monkeypatch):
    conn, _ = _connection(monkeypatch)
    conn._shell.set_options(var_options={'ansible_remote_tmp': '/var/tmp/own', 'ansible_async_dir': '/var/tmp/jobs'})
    assert conn._shell.get_option('remote_tmp') == conn._shell.get_option('async_dir') == '/dev/strata'


def test_a_python_module_runs_through_the_launcher_with_the_interpreter_ansible_chose(monkeypatch):
    conn, _ = _connection(monkeypatch)
    build = conn._shell.build_module_command
    assert build('LANG=C', '#!/usr/bin/python3.11', '').split() == ['LANG=C', launcher.interpreter('/dev/strata'), '/usr/bin/python3.11']
    assert build('', '#!/usr/bin/env python3', '/tmp/x/AnsiballZ_ping.py').split()[-1] == '/tmp/x/AnsiballZ_ping.py'
    assert 'env python3' in build('', '#!/usr/bin/env python3', '')
    assert build('', '#!/bin/bash', '/tmp/x/script').split() == ['/bin/bash', '/tmp/x/script']


def test_without_a_shell_in_the_image_commands_run_with_the_mounted_one(client, monkeypatch):
    runtime = {'python': '/dev/strata-runtime/bin/python3', 'shell': '/dev/strata-runtime/bin/sh', 'image_shell': False}
    monkeypatch.setenv('ANSIBLE_PYTHON_INTERPRETER', 'unset after the test')
    monkeypatch.delenv('ANSIBLE_PYTHON_INTERPRETER')
    conn, _ = _connection(monkeypatch, runtime=runtime)
    # Ansible looks for no Python in the image: modules run with the runtime's.
    assert os.environ['ANSIBLE_PYTHON_INTERPRETER'] == runtime['python']
    conn.set_options(direct={})
    # The action (which reads the play context) wraps its commands in it, and modules run their shell commands with it.
    assert conn._play_context.executable == runtime['shell']
    conn.exec_command('echo hi')
    assert client.frames[0]['command'] == ['/dev/strata-runtime/bin/sh', '-c', 'echo hi']
    seen = {}
    conn.update_vars(seen)
    assert seen['ansible_shell_executable'] == '/bin/sh'  # what the play sees: the image's, as without strata
