from strata_ansible import protocol


def test_frames_round_trip_through_msgpack():
    frame = protocol.task('web', 'copy dest=/x', {'args': {'dest': '/x', 'n': 1}}, lookup=True, cacheable=False, invalidates=True, secret=True)
    assert protocol.decode(protocol.encode(frame)) == frame


def test_hello_names_the_protocol_version():
    assert protocol.hello() == {'type': 'hello', 'protocol': protocol.PROTOCOL_VERSION, 'client': protocol.CLIENT_NAME,
                                'purpose': 'build'}
    assert protocol.hello('exec')['purpose'] == 'exec'


def test_exec_carries_the_command_its_user_and_its_stdin():
    assert protocol.exec_command('strata-build-x', ['/bin/sh', '-c', 'id'], None, b'in') == {
        'type': 'exec', 'container': 'strata-build-x', 'command': ['/bin/sh', '-c', 'id'], 'user': None, 'stdin': b'in'}


def test_task_done_carries_outcome_and_the_result_packed():
    result = {'changed': True, 'stdout': 'x' * 100000, 'raw': b'\x00\xff'}
    frame = protocol.task_done('web', protocol.COMMIT, result)
    assert {k: v for k, v in frame.items() if k != 'result'} == {'type': 'task_done', 'host': 'web', 'outcome': 'commit'}
    assert isinstance(frame['result'], bytes) and len(frame['result']) < 1000
    assert protocol.unpack_result(frame['result']) == result
    assert protocol.task_done('web', protocol.DISCARD)['result'] is None


def test_open_host_says_which_python_and_scratch_files_travel_after_it():
    frame = protocol.open_host('web', 'debian:bookworm-slim', ['a:b'], None, False, False, 'auto', '/usr/bin/python3')
    assert frame['python'] == {'use': 'auto', 'interpreter': '/usr/bin/python3'}
    assert 'scratch_files' not in frame
    assert protocol.scratch_files('web', {'python': '#!/bin/sh\n'}) == {
        'type': 'scratch_files', 'host': 'web', 'files': {'python': '#!/bin/sh\n'}}


def test_the_interpreter_sent_is_a_path_ansible_would_run():
    from strata_ansible.build import _interpreter
    same = lambda value: value  # noqa: E731 (the vars are already templated here)
    assert _interpreter({'ansible_python_interpreter': '/opt/py/bin/python3'}, same) == '/opt/py/bin/python3'
    # Interpreter discovery ('auto') is not a path: strata's default is what the image is asked for.
    assert _interpreter({'ansible_python_interpreter': 'auto_silent'}, same) == '/usr/bin/python3'
    assert _interpreter({}, same) == '/usr/bin/python3'

