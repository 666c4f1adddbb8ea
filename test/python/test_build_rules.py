"""The plugin's rules for a task's outcome that need no engine: what is never
cached, and when a held failure still stands."""

from types import SimpleNamespace

from ansible.executor.play_iterator import FailedStates

from strata_ansible import build


def same(value):
    return value


def test_synchronize_pulling_to_the_controller_is_never_cached_and_says_why():
    pull = SimpleNamespace(args={'mode': 'pull', 'src': '/etc', 'dest': 'out'})
    push = SimpleNamespace(args={'src': 'tree', 'dest': '/srv'})
    assert 'pull mode' in build._never_cached(pull, 'ansible.posix.synchronize', same)
    assert build._never_cached(push, 'ansible.posix.synchronize', same) is None
    assert build._never_cached(pull, 'ansible.builtin.copy', same) is None
    assert build._never_cached(SimpleNamespace(args={'src': '/x', 'dest': 'y'}), 'ansible.builtin.fetch', same) is None


def state(fail_state=FailedStates.NONE, **children):
    return SimpleNamespace(fail_state=fail_state, tasks_child_state=children.get('tasks'),
                           rescue_child_state=children.get('rescue'), always_child_state=children.get('always'))


class Iterator:
    def __init__(self, host_state):
        self.host_state = host_state

    def get_state_for_host(self, name):
        return self.host_state


def test_a_failure_stands_until_cleared_wherever_the_iterator_keeps_it():
    host = SimpleNamespace(name='web')
    assert not build._carries_failure(Iterator(state()), host)
    assert build._carries_failure(Iterator(state(FailedStates.TASKS)), host)
    # In an always: section, the failure is the block's, one level down.
    assert build._carries_failure(Iterator(state(always=state(FailedStates.TASKS, always=state()))), host)
    assert not build._carries_failure(Iterator(state(always=state(always=state()))), host)
