from strata_ansible import protocol


def test_frames_round_trip_through_msgpack():
    frame = protocol.task('web', 'copy dest=/x', {'args': {'dest': '/x', 'n': 1}}, lookup=True, cacheable=False, secret=True)
    assert protocol.decode(protocol.encode(frame)) == frame


def test_hello_names_the_protocol_version():
    assert protocol.hello() == {'type': 'hello', 'protocol': protocol.PROTOCOL_VERSION, 'client': protocol.CLIENT_NAME}


def test_task_done_carries_outcome_and_result():
    assert protocol.task_done('web', protocol.COMMIT, {'changed': True}) == {
        'type': 'task_done', 'host': 'web', 'outcome': 'commit', 'result': {'changed': True}}
    assert protocol.task_done('web', protocol.DISCARD)['result'] is None
