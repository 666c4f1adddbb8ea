"""How Ansible runs a task in the container, as far as it changes what runs
there: the interpreters, the shell and its executable, become and its
options, and when a retried task stops.

Each comes from where the worker takes it: the play context after the task's
overrides, and the shell and become plugins' options set from the task's
variables the way TaskExecutor sets them. Settings strata itself decides for
a build container (the connection, its temp dirs) are left out.
"""

import re

from jinja2 import Environment, meta
from jinja2.exceptions import TemplateSyntaxError

from ansible import constants as C
from ansible.plugins.loader import become_loader, shell_loader

from . import launcher
from .compat import api

_INTERPRETER_VAR = re.compile(r'^ansible_\w+_interpreter$')

# Shell options strata sets for every build container.
_STRATA_SHELL_OPTIONS = frozenset(('remote_tmp', 'async_dir'))

# Variables too large and too changeable to stand for what an `until` reads.
_NOT_UNTIL_INPUTS = frozenset(('hostvars', 'vars', 'groups', 'omit', 'playbook_dir', 'inventory_dir'))

_DEFAULT_SHELL = 'sh'


def runtime_inputs(validated, context, variables, loader):
    """What decides how one run of a validated task executes in the container."""
    return {
        'interpreters': _interpreters(variables, loader),
        'shell': _shell(context, validated, variables, loader),
        'become': _become(context, validated, variables, loader),
    }


def stop_inputs(validated, variables, loader):
    """What decides how often a task runs: its until condition with the
    values of the variables it reads (other than the result it tests), and
    retries and delay as templated. The result decides the rest."""
    attempts = api.attempts_allowed(validated, variables, loader)
    loop_control = getattr(validated, 'loop_control', None)
    break_when = _as_list(getattr(loop_control, 'break_when', None))
    if attempts <= 1 and not break_when:
        return None
    conditions = _as_list(validated.until)
    reads = set()
    for condition in conditions + break_when:
        reads |= _free_variables(condition)
    reads -= _registered_names(validated.register) | _NOT_UNTIL_INPUTS
    return {
        'until': conditions,
        'break_when': break_when,
        'attempts': attempts,
        'delay': validated.delay,
        'reads': {name: _value(variables, name, loader) for name in sorted(reads) if name in variables},
    }


def module_interpreter():
    """The Python the engine looks for in a base (to decide whether to mount
    its runtime) when the task's vars name none: ansible.cfg's
    interpreter_python when it is a path, else what discovery finds on a
    Debian image, /usr/bin/python3."""
    configured = C.config.get_config_value('INTERPRETER_PYTHON')
    if isinstance(configured, str) and configured.startswith('/'):
        return configured
    return launcher.DEFAULT_INTERPRETER


def _interpreters(variables, loader):
    found = {name: api.template(loader, variables, value) for name, value in variables.items()
             if _INTERPRETER_VAR.match(name)}
    found.setdefault('ansible_python_interpreter', _configured_python(variables))
    return found


def _configured_python(variables):
    """The Python Ansible runs modules with when no variable names one:
    ansible.cfg's interpreter_python when it is a path; else the one
    discovery found for the host (a fact from then on), or, before that, the
    discovery mode: the image the chain has built decides what it finds."""
    configured = C.config.get_config_value('INTERPRETER_PYTHON')
    if isinstance(configured, str) and configured.startswith('/'):
        return configured
    facts = variables.get('ansible_facts') or {}
    return facts.get('discovered_interpreter_python') or configured


def _shell(context, task, variables, loader):
    name = api.template(loader, variables, variables.get('ansible_shell_type')) or _DEFAULT_SHELL
    options = _plugin_options(_plugin(shell_loader, name), 'shell', task, variables, loader)
    return dict({k: v for k, v in options.items() if k not in _STRATA_SHELL_OPTIONS},
                type=name, executable=context.executable)


def _become(context, task, variables, loader):
    if not context.become:
        return None
    plugin = _plugin(become_loader, context.become_method)
    if plugin is None:
        return {'method': context.become_method}
    options = _plugin_options(plugin, 'become', task, variables, loader)
    # A password decides whether become works, not what the task does.
    options = {k: v for k, v in options.items() if 'pass' not in k}
    return dict(options, method=context.become_method)


# The become keywords a task can set, which become plugins read as options.
_BECOME_KEYWORDS = ('become_user', 'become_method', 'become_flags', 'become_exe')

_options_seen = {}


def _plugin_options(plugin, kind, task, variables, loader):
    """The plugin's options as TaskExecutor sets them for the task: from the
    variables the plugin declares, the task's keywords and the configuration.
    The same inputs give the same options, so each set is worked out once."""
    if plugin is None:
        return {}
    declared = C.config.get_plugin_vars(kind, plugin._load_name)
    var_options = {k: api.template(loader, variables, variables[k]) for k in declared if k in variables}
    keywords = {k: getattr(task, k, None) for k in _BECOME_KEYWORDS} if kind == 'become' else {}
    key = (kind, plugin._load_name, repr(sorted(var_options.items())), repr(sorted(keywords.items())))
    if key not in _options_seen:
        plugin.set_options(task_keys=task.dump_attrs(), var_options=var_options)
        _options_seen[key] = {name: plugin.get_option(name) for name in sorted(plugin._options)}
    return dict(_options_seen[key])


_plugins = {}


def _plugin(loader, name):
    """One instance per plugin: loading one is the costly part."""
    key = (loader.package, name)
    if key not in _plugins:
        _plugins[key] = loader.get(name)
    return _plugins[key]


def _registered_names(register):
    # From 2.21 on, `register` may map several names to projections of the result.
    if isinstance(register, dict):
        return set(register)
    return {register} if register else set()


def _free_variables(condition):
    if not isinstance(condition, str):
        return set()
    source = condition if '{{' in condition or '{%' in condition else '{%% if (%s) %%}{%% endif %%}' % condition
    try:
        return set(meta.find_undeclared_variables(Environment().parse(source)))
    except TemplateSyntaxError:
        return set()


def _value(variables, name, loader):
    try:
        return api.template(loader, variables, variables[name])
    except Exception as e:  # noqa: BLE001 - the worker meets the same error when `until` reads it
        return '<cannot be templated: %s>' % type(e).__name__


def _as_list(value):
    if value is None or value == '':
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
