"""How many FAILED - RETRYING lines a cached until/retries task replays:
the same count TaskExecutor printed when the task ran."""

from ansible.parsing.dataloader import DataLoader
from ansible.playbook.task import Task

from strata_ansible.replay import attempts_allowed, retried_attempts


def allowed(**fields):
    return attempts_allowed(Task.load(dict({'command': 'true'}, **fields)), {'n': 4}, DataLoader())


def test_attempts_allowed_follows_task_executor():
    assert allowed() == 1
    assert allowed(until='x', retries=5) == 6
    assert allowed(until='x', retries=0) == 1
    assert allowed(until='x', retries='{{ n }}') == 5


def test_a_task_that_met_until_on_its_third_attempt_retried_twice():
    assert retried_attempts({'attempts': 3, 'changed': True}, 6) == 2


def test_a_task_that_ran_out_of_attempts_retried_every_time_but_the_last():
    # Six attempts, five retry lines; TaskExecutor reports attempts=5.
    assert retried_attempts({'attempts': 5, 'failed': True}, 6) == 5


def test_a_task_without_until_never_retried():
    assert retried_attempts({'attempts': 1}, 1) == 0
    assert retried_attempts({'changed': True}, 6) == 0
