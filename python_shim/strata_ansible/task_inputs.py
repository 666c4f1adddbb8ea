"""What decides a task's effect on the container: the fingerprint inputs the
plugin sends the engine (docs/PROTOCOL.md, "The fingerprint inputs").

The args are templated the way a worker templates them, on a copy of the
task, so a changed variable changes the fingerprint and the live play is
never touched. Anything that changes on every run stays out.
"""

import re
from collections.abc import Mapping

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.release import __version__ as ANSIBLE_VERSION

from .code_inputs import code_digests, no_log_options
from .compat import api
from .controller_files import file_inputs, noting_sources, short_action
from .plain import to_plain
from .runtime_inputs import runtime_inputs, stop_inputs
from .stopwatch import stopwatch

# The plugin's part of the recipe; bump when what goes into `inputs` changes.
INPUTS_SCHEMA = 3

LABEL_LENGTH = 100


class Described:
    """A task ready to be looked up: its fingerprint inputs, a short label, and
    the task fields a replayed result carries (as a worker's result would)."""

    def __init__(self, inputs, label, secret, task_fields, sources=()):
        self.inputs = inputs
        self.label = label
        self.secret = secret
        self.task_fields = task_fields
        # The controller files its fingerprint read, by absolute path (for the image's provenance).
        self.sources = sources


SKIPPED = object()  # `when` is false (for every loop item): the worker skips it without a connection


def describe(task, host, task_vars, play_context, loader):
    """Described, or SKIPPED. Raises whatever templating raises: such a task
    cannot be fingerprinted, and will fail the same way in the worker."""
    with noting_sources() as sources:
        described = _described(task, host, task_vars, play_context, loader)
    if described is not SKIPPED:
        described.sources = sorted(sources)
    return described


def _described(task, host, task_vars, play_context, loader):
    action = task.resolved_action or task.action
    playbook_dir = task_vars.get('playbook_dir')
    task_vars = _with_search_path(task, task_vars, loader)
    if task.loop is None and not task.loop_with:
        if not api.when_holds(task, loader, task_vars):
            return SKIPPED
        validated, inputs = _one_run(task, task_vars, play_context, loader)
        body, fields, runs = inputs, validated.dump_attrs(), [inputs]
    else:
        items = _loop_runs(task, host, task_vars, play_context, loader)
        if all(item.get('skipped') for item in items):
            return SKIPPED
        body, fields = {'items': items}, _loop_task_fields(task, task_vars, loader)
        runs = [item for item in items if not item.get('skipped')]
    no_log = any(run['no_log'] for run in runs)
    with stopwatch.timing('code'):
        hidden = no_log_options(action, task.collections)
        code = code_digests(action, task.collections)
    # What Ansible would hide even without no_log (a module's no_log options,
    # environment values) is sealed like a no_log task's values.
    secret = no_log or any(_holds_hidden_values(run, hidden) for run in runs)
    # The release runs the task (its modules, its action plugins) and wrote the stored result.
    body.update(code, schema=INPUTS_SCHEMA, action=action,
                ansible_core=ANSIBLE_VERSION)
    inputs = to_plain(body, playbook_dir, omit=task_vars.get('omit'))
    label = _label(action, runs[0]['args'], no_log, hidden, looped='items' in body, playbook_dir=playbook_dir)
    return Described(inputs, label, secret, fields)


def _holds_hidden_values(run, hidden):
    environment = run.get('environment') or []
    environment = environment if isinstance(environment, list) else [environment]
    return _hides_something(run['args'], hidden) or any(environment)


def _hides_something(value, hidden):
    """Whether a value holds, at any depth (suboptions, lists of them), an
    option the module hides, set to something."""
    if isinstance(value, Mapping):
        return any((k in hidden and v not in (None, '')) or _hides_something(v, hidden) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_hides_something(v, hidden) for v in value)
    return False


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
        'remote_user': context.remote_user,
        'environment': validated.environment,
        'check_mode': validated.check_mode,
        'no_log': bool(validated.no_log),
        'async': validated.async_val,
        'poll': validated.poll,
        'timeout': validated.timeout,
        # A hit evaluates these again with the live task, and notifies as it
        # says; only whether they are there counts, since the stored result
        # keeps the outcome they gave, not the module's own.
        'has_changed_when': bool(validated.changed_when),
        'has_failed_when': bool(validated.failed_when),
        'stop': stop_inputs(validated, variables, loader),
        'files': file_inputs(action, args, validated.get_search_path(), variables, loader, validated.collections),
    }
    inputs.update(runtime_inputs(validated, context, variables, loader))
    return validated, inputs


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
            variables['ansible_loop'] = _extended_loop_vars(items, index, getattr(control, 'extended_allitems', True))
        if not api.when_holds(task, loader, variables):
            runs.append({'item': item, 'skipped': True})
            continue
        _, inputs = _one_run(task, variables, play_context, loader)
        runs.append(dict(inputs, item=item))
    if _items_from_a_glob(task):
        # A glob lists files in the filesystem's order, which differs between
        # checkouts of the same files.
        runs.sort(key=lambda run: repr(to_plain(run['item'])))
    return runs


def _items_from_a_glob(task):
    return task.loop_with == 'fileglob' or 'fileglob' in str(task.loop or '')


def _extended_loop_vars(items, index, allitems):
    """ansible_loop as TaskExecutor's loop sets it."""
    length = len(items)
    loop = {'allitems': items} if allitems else {}
    loop.update({'index': index + 1, 'index0': index, 'first': index == 0, 'last': index + 1 == length,
                 'length': length, 'revindex': length - index, 'revindex0': length - index - 1})
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


def _label(action, args, no_log, hidden, looped, playbook_dir=None):
    """Short text naming the task in labels, logs, `strata ls` and the image's
    history: nothing of a no_log task but its action; never the value of an
    option its module hides, nor of an arg whose name looks secret. The
    playbook's folder is written `{{ playbook_dir }}`, as in the inputs, so
    the same task reads the same from any checkout (a reproducible image's
    history holds it)."""
    name = short_action(action)
    if no_log:
        return name
    masked = lambda k: k in hidden or _SECRET_ARG.search(k) or _hides_something(args[k], hidden)
    words = ['%s=%s' % (k, '***' if masked(k) else v) for k, v in sorted(args.items()) if not k.startswith('_')]
    raw = args.get('_raw_params')
    text = ' '.join([name] + ([str(raw)] if raw else []) + words)
    if looped:
        text += ' (loop)'
    if playbook_dir:
        text = text.replace(playbook_dir.rstrip('/'), '{{ playbook_dir }}')
    text = ' '.join(text.split())  # one line, whatever the args hold
    return text if len(text) <= LABEL_LENGTH else text[:LABEL_LENGTH - 3] + '...'
