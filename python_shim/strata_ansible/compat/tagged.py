"""ansible-core 2.19 and 2.20: data tagging. Results are `_RawTaskResult`s
(`_return_data`), sent whole to the final queue; post_validate takes a
`TemplateEngine` and applies module_defaults and omit itself; a template
read from a file renders only once marked trusted; warnings, deprecations
and exceptions in results are objects."""

import datetime

from ansible import constants as C
from ansible._internal._ansiballz._builder import ExtensionManager
from ansible._internal._templating._engine import TemplateEngine
from ansible.executor.module_common import recursive_finder
from ansible.executor.task_executor import TaskExecutor
from ansible.executor import task_result as _task_result
from ansible.module_utils._internal._datatag import AnsibleSerializable
from ansible.plugins import loader as plugin_loader
from ansible.plugins.strategy import _get_item_vars
from ansible.template import Templar, trust_as_template

from .payload import PayloadRecorder

_TYPE_KEY = AnsibleSerializable._TYPE_KEY


class Tagged:
    generation = 'tagged'
    INVENTORY_ACTIONS = tuple(getattr(C, '_ACTION_INVENTORY_TASKS', ()))
    # The worker works out a delegated host's vars from the inventory.
    WORKER_RESOLVES_DELEGATION = True
    replays_in_executor = False

    def __init__(self, release):
        self.release = release

    # -- templating ----------------------------------------------------------

    def template(self, loader, variables, value):
        return TemplateEngine(loader=loader, variables=variables).template(value)

    def when_holds(self, task, loader, variables):
        return task._resolve_conditional(_as_list(task.when), variables)

    def validate(self, task, loader, variables, play_context):
        engine = TemplateEngine(loader=loader, variables=variables)
        validated = task.copy(exclude_tasks=True)
        validated.post_validate(templar=engine)
        context = play_context.set_task_and_variable_override(task=validated, variables=variables, templar=engine)
        return validated, dict(validated.args), context

    def validate_loop_control(self, task, loader, variables):
        control = task.loop_control.copy()
        control.post_validate(templar=TemplateEngine(loader=loader, variables=variables))
        return control

    def loop_items(self, task, host, task_vars, play_context, loader):
        executor = TaskExecutor(host=host, task=task.copy(exclude_tasks=True), job_vars=dict(task_vars),
                                play_context=play_context, loader=loader, shared_loader_obj=plugin_loader,
                                final_q=None, variable_manager=None)
        return executor._get_loop_items() or []

    def render_template(self, source, searchpath, variables, options, loader):
        renderer = Templar(loader=loader).copy_with_new_env(searchpath=searchpath, available_variables=variables)
        return renderer.template(trust_as_template(source), escape_backslashes=False, overrides=options)

    def module_utils_closure(self, name, module_fqn, source):
        payload = PayloadRecorder()
        recursive_finder(name, module_fqn, source, payload, datetime.datetime.now(), ExtensionManager())
        return payload.files

    def ansible_managed(self, src, task_vars):
        # 2.19 keeps a user's ansible_managed, and renders its own from the template's variables.
        if 'ansible_managed' in task_vars:
            return None
        return trust_as_template(C.config.get_config_value('DEFAULT_MANAGED_STR').format(
            host='{{ template_host }}', uid='{{ template_uid }}', file='{{ template_path }}'))

    # -- results -------------------------------------------------------------

    def host_and_task(self, task_result):
        return task_result.host, task_result.task

    def result_data(self, task_result):
        return task_result._return_data

    def replace_message(self, task_result, message):
        task_result._return_data['msg'] = message

    def result_status(self, task_result):
        return {'unreachable': task_result.is_unreachable(), 'skipped': task_result.is_skipped(),
                'failed': task_result.is_failed()}

    def to_stored(self, result):
        return _serialized(result)

    def from_stored(self, stored):
        return _deserialized(stored)

    def queue_result(self, queue, host, task, result, task_fields):
        queue.send_task_result(_task_result._RawTaskResult(host=host, task=task, return_data=result, task_fields=task_fields))

    def queue_callback(self, queue, method, host, task, result, task_fields):
        queue.send_callback(method, _task_result._RawTaskResult(host=host, task=task, return_data=result, task_fields=task_fields))

    def is_failed(self, result):
        return _task_result._RawTaskResult(host=None, task=None, return_data=result, task_fields={}).is_failed()

    def is_skipped(self, result):
        return _task_result._RawTaskResult(host=None, task=None, return_data=result, task_fields={}).is_skipped()

    def item_vars(self, item, task):
        return _get_item_vars(item, task)

    def reconsider_whens(self, result, task, variables, loader):
        # What TaskExecutor does after the action returns, with today's task.
        if task.changed_when:
            result['changed'] = task._resolve_conditional(_as_list(task.changed_when), variables)
        if task.failed_when:
            result['failed_when_result'] = result['failed'] = task._resolve_conditional(_as_list(task.failed_when), variables)

    def register_value(self, result):
        return result

    def attempts_allowed(self, task, variables, loader):
        retries = self.template(loader, variables, task.retries)
        if retries is not None:
            return 1 + max(0, int(retries))
        return 4 if task.until else 1

    def until_met(self, result, task, variables, loader):
        return task._resolve_conditional(_as_list(task.until) if task.until else [not result.get('failed')], variables)


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _serialized(value):
    """The result as plain data: Ansible's own objects in it (warnings,
    deprecations, exceptions) in their serialized form."""
    if isinstance(value, AnsibleSerializable):
        return _serialized(value._serialize())
    if isinstance(value, dict):
        return {k: _serialized(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_serialized(v) for v in value]
    return value


def _deserialized(value):
    if isinstance(value, dict):
        plain = {k: _deserialized(v) for k, v in value.items()}
        if _TYPE_KEY in plain:
            return AnsibleSerializable._deserialize(plain)
        return plain
    if isinstance(value, list):
        return [_deserialized(v) for v in value]
    return value
