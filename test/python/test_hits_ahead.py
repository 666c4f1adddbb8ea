"""The plugin's side of hits ahead: which task is taken from what the engine
told of, and what a task is known by (docs/PROTOCOL.md, "Hits ahead")."""

from strata_ansible import protocol


class _RecordingClient:
    """Stands in for EngineClient: answers each awaited request with the next
    of `replies` and records what was sent, awaited or ahead."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.asked = []
        self.sent_ahead = []

    def request(self, frame):
        self.asked.append(frame)
        return self.replies.pop(0)

    def send_ahead(self, frame, fingerprint):
        self.sent_ahead.append((frame, fingerprint))


def test_a_task_the_engine_told_of_ahead_is_taken_at_once_and_any_other_is_asked():
    from strata_ansible.build import Build
    one, two, three, other = (protocol.task('web', label, {'args': label}, True, True, False, False) for label in ('one', 'two', 'three', 'other'))
    told = [{'digest': protocol.digest(two), 'fingerprint': 'fp2', 'result': {'rc': 0}, 'saved_seconds': 1.5},
            {'digest': protocol.digest(three), 'fingerprint': 'fp3', 'result': {'rc': 0}, 'saved_seconds': 2.0}]
    build = Build.__new__(Build)  # only what _ask touches: no engine, no Ansible run
    build._ahead = {}
    build._client = _RecordingClient({'outcome': 'hit', 'fingerprint': 'fp1', 'result': {}, 'saved_seconds': 1.0, 'ahead': told},
                                     {'outcome': 'miss', 'fingerprint': 'fpx', 'container': 'c', 'scratch': '/s'})

    assert build._ask('web', one)['fingerprint'] == 'fp1'
    assert build._client.asked == [dict(one, digest=protocol.digest(one))]
    taken = build._ask('web', two)
    assert (taken['outcome'], taken['fingerprint'], taken['result'], taken['saved_seconds']) == ('hit', 'fp2', {'rc': 0}, 1.5)
    assert build._client.sent_ahead == [(dict(two, digest=protocol.digest(two), expect='fp2'), 'fp2')]
    # A task other than the next one told of is asked, and what was told is dropped.
    assert build._ask('web', other)['outcome'] == 'miss'
    assert build._client.asked[-1] == dict(other, digest=protocol.digest(other))
    assert not build._ahead['web']
    assert len(build._client.sent_ahead) == 1


def test_a_task_digest_changes_with_anything_the_engine_reads_of_the_task():
    frame = protocol.task('web', 'copy', {'args': {'dest': '/x'}}, True, True, False, False)
    changed = [dict(frame, host='db'), dict(frame, inputs={'args': {'dest': '/y'}}), dict(frame, lookup=False),
               dict(frame, cacheable=False), dict(frame, secret=True), dict(frame, label='copy!')]
    assert len({protocol.digest(f) for f in [frame] + changed}) == len(changed) + 1
    assert protocol.digest(frame) == protocol.digest(protocol.task('web', 'copy', {'args': {'dest': '/x'}}, True, True, False, False))
