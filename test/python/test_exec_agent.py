"""The exec agent build containers run (src/docker/exec_agent.py), run here as
a local process and spoken to in its frames, as the engine does over the
container's attached stdin and stdout."""

import json
import os
import struct
import subprocess
import sys

import pytest

AGENT = os.path.join(os.path.dirname(__file__), '..', '..', 'src', 'docker', 'exec_agent.py')


class Agent:
    def __init__(self, env=None, cwd=None):
        self.process = subprocess.Popen(
            [sys.executable, '-E', '-s', '-B', AGENT],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=cwd,
            # Its own process group, as PID 1 of a container has: what reaches it reaches nothing else.
            start_new_session=True)

    def send(self, ident, argv, user=None, stdin=b''):
        header = json.dumps({'argv': argv, 'user': user}).encode()
        self.process.stdin.write(struct.pack('>III', ident, len(header), len(stdin)) + header + stdin)
        self.process.stdin.flush()

    def reply(self):
        ident, code, out_size, err_size = struct.unpack('>IiII', self.process.stdout.read(16))
        return ident, code, self.process.stdout.read(out_size), self.process.stdout.read(err_size)

    def run(self, argv, user=None, stdin=b''):
        self.send(7, argv, user, stdin)
        ident, code, out, err = self.reply()
        assert ident == 7
        return code, out, err

    def close(self):
        self.process.stdin.close()
        return self.process.wait(timeout=10)


@pytest.fixture
def agent():
    started = Agent()
    yield started
    started.close()


def test_answers_with_exit_code_and_separate_streams(agent):
    assert agent.run(['sh', '-c', 'echo out; echo err >&2; exit 3']) == (3, b'out\n', b'err\n')


def test_gives_a_command_its_whole_stdin_and_returns_binary_output_whole(agent):
    data = bytes(range(256)) * 40000  # 10 MB, every byte value
    code, out, err = agent.run(['cat'], stdin=data)
    assert (code, err) == (0, b'')
    assert out == data


def test_a_command_ended_by_a_signal_exits_as_docker_says_it(agent):
    assert agent.run(['sh', '-c', 'kill -9 $$'])[0] == 128 + 9


def test_a_command_that_cannot_start_gets_an_exit_code_and_a_reason(agent):
    code, out, err = agent.run(['/no/such/program'])
    assert (code, out) == (127, b'')
    assert b'/no/such/program' in err and b'No such file' in err
    code, _, err = agent.run(['true'], user='no-such-user')
    assert code == 126
    assert b'unable to find user no-such-user' in err


def test_a_command_signalling_its_process_group_does_not_reach_the_agent(agent):
    assert agent.run(['sh', '-c', 'kill -TERM 0'])[0] == 128 + 15
    assert agent.run(['echo', 'still here']) == (0, b'still here\n', b'')


def test_commands_run_side_by_side_and_replies_name_their_request(agent):
    agent.send(1, ['sh', '-c', 'sleep 1; echo slow'])
    agent.send(2, ['echo', 'fast'])
    assert agent.reply() == (2, 0, b'fast\n', b'')
    assert agent.reply() == (1, 0, b'slow\n', b'')


def test_commands_get_the_environment_docker_gave_not_the_one_python_made():
    # In the C locale, Python sets LC_CTYPE for itself and its children (PEP 538).
    started = Agent(env={'PATH': os.environ['PATH'], 'LANG': 'C', 'FROM_DOCKER': 'yes'})
    try:
        code, out, _ = started.run(['env'])
        assert code == 0
        names = [line.split(b'=', 1)[0] for line in out.splitlines()]
        assert b'FROM_DOCKER' in names
        assert b'LC_CTYPE' not in names
    finally:
        started.close()


def test_ends_when_its_stdin_does(agent):
    assert agent.close() == 0


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason='switching users needs root, as in a build container')


@needs_root
def test_runs_a_command_as_the_user_asked_with_its_groups_and_home(agent):
    code, out, _ = agent.run(['sh', '-c', 'id -u; id -g; id -G; echo $HOME'], user='nobody')
    assert code == 0
    uid, gid, groups, home = out.decode().split('\n')[:4]
    assert (uid, home) == ('65534', '/nonexistent')
    assert groups.split() == [gid]
    code, out, _ = agent.run(['sh', '-c', 'id -u; id -g; id -G; echo $HOME'], user='4321:5')
    assert out.decode().split('\n')[:4] == ['4321', '5', '5', '/']
