"""What decides a task's effect on the container: the fingerprint inputs the
plugin sends the engine (docs/PROTOCOL.md, "The fingerprint inputs").

The args are templated the way a worker templates them, on a copy of the
task, so a changed variable changes the fingerprint and the live play is
never touched. Anything that changes on every run stays out.
"""

from ansible.executor.module_common import get_action_args_with_defaults
from ansible.executor.task_executor import TaskExecutor, remove_omit
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins import loader as plugin_loader
from ansible.template import Templar

from .controller_files import file_inputs, short_action
from .plain import to_plain

# The plugin's part of the recipe; bump when what goes into `inputs` changes.
INPUTS_SCHEMA = 1

LABEL_LENGTH = 100


class Described:
    """A task ready to be looked up: its fingerprint inputs, a short label, and
    the task fields a replayed result carries (as a worker's result would)."""

    def __init__(self, inputs, label, secret, task_fields):
        self.inputs = inputs
        self.label = label
        self.secret = secret
        self.task_fields = task_fields


SKIPPED = object()  # `when` is false (for every loop item): the worker skips it without a connection


def describe(task, host, task_vars, play_context, loader):
    """Described, or SKIPPED. Raises whatever templating raises: such a task
    cannot be fingerprinted, and will fail the same way in the worker."""
    action = task.resolved_action or task.action
    playbook_dir = task_vars.get('playbook_dir')
    if task.loop is None and not task.loop_with:
        if not task.evaluate_conditional(Templar(loader=loader, variables=task_vars), task_vars):
            return SKIPPED
        validated, inputs = _one_run(task, task_vars, play_context, loader)
        body, secret, fields = inputs, bool(validated.no_log), validated.dump_attrs()
        args_for_label = inputs['args']
    else:
        items = _loop_runs(task, host, task_vars, play_context, loader)
        if all(item.get('skipped') for item in items):
            return SKIPPED
        body = {'items': items}
        secret = any(item.get('no_log') for item in items)
        fields = _loop_task_fields(task, task_vars, loader)
        args_for_label = next(item['args'] for item in items if not item.get('skipped'))
    inputs = to_plain(dict(body, schema=INPUTS_SCHEMA, action=action), playbook_dir)
    return Described(inputs, _label(action, args_for_label, secret, task), secret, fields)


def undescribable(task, action):
    """What stands for a task whose inputs could not be worked out: it runs
    in the container, but it is never cached, so its inputs need not be right."""
    inputs = {'schema': INPUTS_SCHEMA, 'action': action, 'undescribable': True}
    return Described(inputs, short_action(action), True, task.dump_attrs())


def _one_run(task, variables, play_context, loader):
    """The validated copy of the task for one run (one loop item), and its inputs."""
    templar = Templar(loader=loader, variables=variables)
    # copy() copies the parent blocks too, so post_validate cannot write to the live play.
    validated = task.copy()
    validated.post_validate(templar=templar)
    action = validated.resolved_action or validated.action
    args = get_action_args_with_defaults(action, validated.args, validated.module_defaults, templar,
                                         action_groups=_action_groups(validated))
    omit = variables.get('omit')
    if omit:
        args = remove_omit(args, omit)
    context = play_context.set_task_and_variable_override(task=validated, variables=variables, templar=templar)
    inputs = {
        'args': args,
        'become': bool(context.become),
        'become_user': context.become_user if context.become else None,
        'become_method': context.become_method if context.become else None,
        'remote_user': context.remote_user,
        'environment': validated.environment,
        'check_mode': validated.check_mode,
        'diff': validated.diff,
        'no_log': bool(validated.no_log),
        'changed_when': validated.changed_when,
        'failed_when': validated.failed_when,
        'until': validated.until,
        'notify': validated.notify,
        'files': file_inputs(action, args, validated.get_search_path(), variables, loader),
    }
    return validated, inputs


def _action_groups(task):
    play = getattr(task._parent, '_play', None)
    return getattr(play, '_action_groups', {}) if play else {}


def _loop_items(task, host, task_vars, play_context, loader):
    # Ansible's own item resolution (loop:, with_*: lookups, loop caches), on a
    # copy: TaskExecutor squashes the task it is given.
    executor = TaskExecutor(host, task.copy(), dict(task_vars), play_context, None, loader, plugin_loader, None)
    return executor._get_loop_items() or []


def _loop_runs(task, host, task_vars, play_context, loader):
    """Inputs per loop item, as the worker's loop would run them."""
    items = _loop_items(task, host, task_vars, play_context, loader)
    control = task.loop_control.copy()
    control.post_validate(templar=Templar(loader=loader, variables=task_vars))
    runs = []
    for index, item in enumerate(items):
        variables = dict(task_vars)
        variables[control.loop_var] = item
        variables['ansible_loop_var'] = control.loop_var
        if control.index_var:
            variables[control.index_var] = index
            variables['ansible_index_var'] = control.index_var
        if control.extended:
            variables['ansible_loop'] = _extended_loop_vars(items, index)
        if not task.evaluate_conditional(Templar(loader=loader, variables=variables), variables):
            runs.append({'item': item, 'skipped': True})
            continue
        _, inputs = _one_run(task, variables, play_context, loader)
        runs.append(dict(inputs, item=item))
    return runs


def _extended_loop_vars(items, index):
    length = len(items)
    loop = {'index': index + 1, 'index0': index, 'first': index == 0, 'last': index + 1 == length,
            'length': length, 'revindex': length - index, 'revindex0': length - index - 1}
    if index + 1 < length:
        loop['nextitem'] = items[index + 1]
    if index > 0:
        loop['previtem'] = items[index - 1]
    return loop


def _loop_task_fields(task, task_vars, loader):
    """A loop's worker reports the task's own fields, with its flags templated."""
    templar = Templar(loader=loader, variables=task_vars)
    fields = task.dump_attrs()
    for flag in ('ignore_errors', 'ignore_unreachable', 'no_log'):
        value = templar.template(fields.get(flag))
        fields[flag] = None if value is None else boolean(value, strict=False)
    return fields


def _label(action, args, secret, task):
    """Short text naming the task in labels, logs and `strata ls`: never a
    no_log task's values."""
    name = short_action(action)
    if secret:
        return name
    words = ['%s=%s' % (k, v) for k, v in sorted(args.items()) if not k.startswith('_')]
    raw = args.get('_raw_params')
    text = ' '.join([name] + ([str(raw)] if raw else []) + words)
    if task.loop is not None or task.loop_with:
        text += ' (loop)'
    text = ' '.join(text.split())  # one line, whatever the args hold
    return text if len(text) <= LABEL_LENGTH else text[:LABEL_LENGTH - 3] + '...'
