"""What decides a task's effect on the container: the fingerprint inputs the
plugin sends the engine (docs/PROTOCOL.md, "The fingerprint inputs").

The args are templated the way a worker templates them, on a copy of the
task, so a changed variable changes the fingerprint and the live play is
never touched. Anything that changes on every run stays out.
"""

import hashlib
import os
import re

import ansible
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.loader import module_loader
from ansible.release import __version__ as ANSIBLE_VERSION

from .compat import api
from .controller_files import file_inputs, short_action
from .plain import to_plain

# The plugin's part of the recipe; bump when what goes into `inputs` changes.
INPUTS_SCHEMA = 1

_ANSIBLE_CORE_DIR = os.path.dirname(ansible.__file__)

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
    task_vars = _with_search_path(task, task_vars, loader)
    if task.loop is None and not task.loop_with:
        if not api.when_holds(task, loader, task_vars):
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
    # The release runs the task (its modules, its action plugins) and wrote the stored result.
    body.update(schema=INPUTS_SCHEMA, action=action, module=module_digest(action, task.collections),
                ansible_core=ANSIBLE_VERSION)
    inputs = to_plain(body, playbook_dir, omit=task_vars.get('omit'))
    return Described(inputs, _label(action, args_for_label, secret, task), secret, fields)


def _with_search_path(task, task_vars, loader):
    """The task's vars with ansible_search_path, as a worker sets it: lookups
    and template includes search the role's folders before the playbook's."""
    search_path = list(task.get_search_path())
    if loader.get_basedir() not in search_path:
        search_path.append(loader.get_basedir())
    return dict(task_vars, ansible_search_path=search_path)


def undescribable(task, action):
    """What stands for a task whose inputs could not be worked out: it runs
    in the container, but it is never cached, so its inputs need not be right."""
    inputs = {'schema': INPUTS_SCHEMA, 'action': action, 'undescribable': True}
    return Described(inputs, short_action(action), True, task.dump_attrs())


def _one_run(task, variables, play_context, loader):
    """The validated copy of the task for one run (one loop item), and its inputs."""
    validated, args, context = api.validate(task, loader, variables, play_context)
    action = validated.resolved_action or validated.action
    inputs = {
        'args': args,
        'become': bool(context.become),
        'become_user': context.become_user if context.become else None,
        'become_method': context.become_method if context.become else None,
        'remote_user': context.remote_user,
        'environment': validated.environment,
        'check_mode': validated.check_mode,
        'no_log': bool(validated.no_log),
        'async': validated.async_val,
        'poll': validated.poll,
        'timeout': validated.timeout,
        'changed_when': validated.changed_when,
        'failed_when': validated.failed_when,
        'until': validated.until,
        'notify': validated.notify,
        'files': file_inputs(action, args, validated.get_search_path(), variables, loader),
    }
    return validated, inputs


_module_digests = {}


def module_digest(action, collections=None):
    """sha256 of the module's code when it is not part of ansible-core (a
    playbook's library/, a role's, a collection's), so editing it rebuilds
    the tasks that use it; None for ansible-core's own modules, which change
    only with Ansible."""
    key = (action, tuple(collections or ()))
    if key not in _module_digests:
        found = module_loader.find_plugin_with_context(action, collection_list=collections)
        path = found.plugin_resolved_path if found.resolved else None
        if not path or path.startswith(_ANSIBLE_CORE_DIR):
            _module_digests[key] = None
        else:
            with open(path, 'rb') as f:
                _module_digests[key] = hashlib.sha256(f.read()).hexdigest()
    return _module_digests[key]


def _loop_runs(task, host, task_vars, play_context, loader):
    """Inputs per loop item, as the worker's loop would run them."""
    items = api.loop_items(task, host, task_vars, play_context, loader)
    control = api.validate_loop_control(task, loader, task_vars)
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
        if not api.when_holds(task, loader, variables):
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
    fields = task.dump_attrs()
    for flag in ('ignore_errors', 'ignore_unreachable', 'no_log'):
        value = api.template(loader, task_vars, fields.get(flag))
        fields[flag] = None if value is None else boolean(value, strict=False)
    return fields


# Args whose values are never written into a label, a log or an image's history.
_SECRET_ARG = re.compile(r'pass|secret|token|key|cred|auth', re.IGNORECASE)


def _label(action, args, secret, task):
    """Short text naming the task in labels, logs, `strata ls` and the image's
    history: never a no_log task's values, nor values of args that look secret."""
    name = short_action(action)
    if secret:
        return name
    words = ['%s=%s' % (k, '***' if _SECRET_ARG.search(k) else v) for k, v in sorted(args.items()) if not k.startswith('_')]
    raw = args.get('_raw_params')
    text = ' '.join([name] + ([str(raw)] if raw else []) + words)
    if task.loop is not None or task.loop_with:
        text += ' (loop)'
    text = ' '.join(text.split())  # one line, whatever the args hold
    return text if len(text) <= LABEL_LENGTH else text[:LABEL_LENGTH - 3] + '...'
