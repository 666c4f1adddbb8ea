"""ansible-core 2.14 to 2.18: `TaskResult`s with a `_result` dict, `Templar`,
`post_process_whens`, module_defaults and omit applied by the worker."""

import inspect

from ansible import constants as C
from ansible.executor.module_common import get_action_args_with_defaults, recursive_finder
from ansible.executor.task_executor import TaskExecutor, remove_omit
from ansible.executor.task_result import TaskResult
from ansible.playbook.conditional import Conditional
from ansible.plugins import loader as plugin_loader
from ansible.plugins.strategy import _get_item_vars, post_process_whens
from ansible.template import AnsibleEnvironment, Templar
from ansible.utils.unsafe_proxy import wrap_var

from .payload import PayloadRecorder


class Legacy:
    generation = 'legacy'
    INVENTORY_ACTIONS = tuple(C._ACTION_INVENTORY_TASKS)
    # The strategy's task vars decide a delegated host's connection.
    WORKER_RESOLVES_DELEGATION = False
    # A hit is injected into the result queue (replay.py), not run through TaskExecutor.
    replays_in_executor = False

    def __init__(self, release):
        self.release = release

    # -- templating ----------------------------------------------------------

    def template(self, loader, variables, value):
        return Templar(loader=loader, variables=variables).template(value)

    def when_holds(self, task, loader, variables):
        return task.evaluate_conditional(Templar(loader=loader, variables=variables), variables)

    def validate(self, task, loader, variables, play_context):
        """A post-validated copy of the task (the live play is never touched),
        its args as the worker would pass them to the action, and the play
        context the worker would run it with."""
        templar = Templar(loader=loader, variables=variables)
        validated = task.copy(exclude_tasks=True)
        validated.post_validate(templar=templar)
        action = validated.resolved_action or validated.action
        args = get_action_args_with_defaults(action, validated.args, validated.module_defaults, templar,
                                             action_groups=_action_groups(validated))
        omit = variables.get('omit')
        if omit:
            args = remove_omit(args, omit)
        context = play_context.set_task_and_variable_override(task=validated, variables=variables, templar=templar)
        return validated, args, context

    def validate_loop_control(self, task, loader, variables):
        control = task.loop_control.copy()
        control.post_validate(templar=Templar(loader=loader, variables=variables))
        return control

    def loop_items(self, task, host, task_vars, play_context, loader):
        # Ansible's own item resolution (loop:, with_*: lookups, loop caches), on
        # a copy: TaskExecutor squashes the task it is given.
        offered = dict(host=host, task=task.copy(exclude_tasks=True), job_vars=dict(task_vars), play_context=play_context,
                       new_stdin=None, loader=loader, shared_loader_obj=plugin_loader, final_q=None, variable_manager=None)
        accepted = inspect.signature(TaskExecutor.__init__).parameters
        executor = TaskExecutor(**{name: value for name, value in offered.items() if name in accepted})
        return executor._get_loop_items() or []

    def render_template(self, source, searchpath, variables, options, loader):
        renderer = Templar(loader=loader).copy_with_new_env(environment_class=AnsibleEnvironment, searchpath=searchpath,
                                                            available_variables=variables, **options)
        return renderer.do_template(source, preserve_trailing_newlines=True, escape_backslashes=False)

    def module_utils_closure(self, name, module_fqn, source):
        """{payload path: content} of the module_utils module_common packs with a module."""
        payload = PayloadRecorder()
        recursive_finder(name, module_fqn, source, payload)
        return payload.files

    def ansible_managed(self, src, task_vars):
        """The ansible_managed a template sees (None: the user's own)."""
        return C.DEFAULT_MANAGED_STR.format(host='strata', uid='strata', file=src)

    # -- results -------------------------------------------------------------

    def host_and_task(self, task_result):
        return task_result._host, task_result._task

    def result_data(self, task_result):
        """The result dict of a result the strategy processes."""
        return task_result._result

    def replace_message(self, task_result, message):
        task_result._result['msg'] = message

    def result_status(self, task_result):
        return {'unreachable': task_result.is_unreachable(), 'skipped': task_result.is_skipped(),
                'failed': task_result.is_failed()}

    def to_stored(self, result):
        return result

    def from_stored(self, stored):
        return wrap_var(stored)

    def queue_result(self, queue, host, task, result, task_fields):
        queue.send_task_result(host.name, task._uuid, result, task_fields=task_fields)

    def queue_callback(self, queue, method, host, task, result, task_fields):
        queue.send_callback(method, TaskResult(host.name, task._uuid, result, task_fields=task_fields))

    def is_failed(self, result):
        return TaskResult(None, None, result).is_failed()

    def is_skipped(self, result):
        return TaskResult(None, None, result).is_skipped()

    def item_vars(self, item, task):
        return _get_item_vars(item, task)

    def reconsider_whens(self, result, task, variables, loader):
        post_process_whens(result, task, Templar(loader=loader, variables=variables), variables)

    def register_value(self, result):
        return wrap_var(result)

    def attempts_allowed(self, task, variables, loader):
        """How many attempts TaskExecutor gives a task."""
        retries = Templar(loader=loader, variables=variables).template(task.retries)
        if self.release >= (2, 16):
            # 2.16 made `retries` count alone, and `until` without it allow 1 + 3.
            if retries is not None:
                return 1 + max(0, int(retries))
            return 4 if task.until else 1
        if not task.until:
            return 1
        if retries is None:
            return 3
        return 1 if int(retries) <= 0 else int(retries) + 1

    def until_met(self, result, task, variables, loader):
        condition = Conditional(loader=loader)
        condition.when = _as_list(task.until) if task.until else [not result.get('failed')]
        return condition.evaluate_conditional(Templar(loader=loader, variables=variables), variables)


def _action_groups(task):
    play = getattr(task._parent, '_play', None)
    return getattr(play, '_action_groups', {}) if play else {}


def _as_list(value):
    return value if isinstance(value, list) else [value]
