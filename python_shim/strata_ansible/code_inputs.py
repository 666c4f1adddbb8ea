"""The code a task runs, by content: the action plugin that handles it on
the controller, and the module with every module_utils file Ansible's module
builder packs into its payload.

ansible-core's own files change only with ansible-core, whose version is an
input of its own; everything else (a playbook's or role's `library/`,
`module_utils/` and `action_plugins/`, a collection's plugins) is hashed, so
editing any of it rebuilds the tasks that run it.
"""

import ast
import hashlib
import importlib.util
import json
import os
import tempfile

import yaml

import ansible
import ansible.release
from ansible.executor import module_common
from ansible.plugins.loader import action_loader, module_loader, module_utils_loader

from .compat import api

_ANSIBLE_CORE_DIR = os.path.dirname(os.path.abspath(ansible.__file__)) + os.sep

# The action plugin TaskExecutor falls back to for a module without one of its own.
NORMAL_ACTION = 'ansible.legacy.normal'

# Package stubs module_common writes from the release, an input already.
_MADE_BY_THE_BUILDER = frozenset(('ansible/__init__.py', 'ansible/module_utils/__init__.py'))

_digests = {}


def code_digests(action, collections):
    """{'module': sha256 or None, 'action_plugin': sha256 or None} for a
    task's action; None where the code is ansible-core's own."""
    key = (action, tuple(collections or ()))
    if key not in _digests:
        module = None if _release_decides(action, collections) else _module_digest(module_payload(action, collections))
        _digests[key] = {
            'module': module,
            'action_plugin': _action_plugin_digest(action_plugin_path(action, collections)),
        }
    return _digests[key]


_payloads = {}


def module_payload(action, collections):
    """What Ansible ships to run the module: {'path': its file, 'files':
    {name: content}} with 'module' (its own file) and, for a Python module,
    every module_utils file module_common packs with it; {} when no module
    of that name exists."""
    key = (action, tuple(collections or ()))
    if key not in _payloads:
        _payloads[key] = _read_payload(action, _resolve(module_loader, action, collections))
    return _payloads[key]


_no_log = {}


def no_log_options(action, collections):
    """Names of the options the module's argument spec (or a module_utils
    spec it uses) marks `no_log`, with every alias of theirs: the values the
    module hides in its own results, which strata keeps out of labels and
    logs too."""
    key = (action, tuple(collections or ()))
    if key not in _no_log:
        # Packing a module's payload and parsing it costs a tenth of a second
        # per action, more than a whole cached build's other work: what a
        # release's own module hides is kept between builds.
        release_key = _release_decides(action, collections)
        hidden = _memo.get(release_key) if release_key else None
        if hidden is None:
            hidden = sorted(_hidden_in(module_payload(action, collections)))
            if release_key:
                _memo.put(release_key, hidden)
            _memo.save()
        _no_log[key] = frozenset(hidden)
    return _no_log[key]


def _hidden_in(payload):
    hidden, aliases = set(), {}
    for content in (payload or {}).get('files', {}).values():
        found_hidden, found_aliases = _options_of(content)
        hidden |= found_hidden
        for name, more in found_aliases.items():
            aliases.setdefault(name, set()).update(more)
    return hidden.union(*(aliases.get(name, ()) for name in hidden))


def _release_decides(action, collections):
    """A key naming the module's code when ansible-core's release alone
    decides it: the module is the release's own and no module_utils folder
    outside the release (ansible.cfg's, a playbook's or a role's
    module_utils/) could shadow what it imports. Else None."""
    module = _resolve(module_loader, action, collections)
    if module is None or not is_core(module.plugin_resolved_path):
        return None
    if not all(is_core(p) for p in module_utils_loader._get_paths(subdirs=False) if os.path.isdir(p)):
        return None
    return 'release:%s:%s' % (ansible.release.__version__, module.plugin_resolved_path)


def _options_of(content):
    """_options_in, kept between builds by the file's content."""
    key = 'file:' + hashlib.sha256(_as_bytes(content)).hexdigest()
    try:
        hidden, aliases = _memo.get(key)
        return set(hidden), {name: set(more) for name, more in aliases.items()}
    except (TypeError, ValueError, AttributeError):  # not there yet, or mangled
        hidden, aliases = _options_in(content)
        _memo.put(key, [sorted(hidden), {name: sorted(more) for name, more in aliases.items() if more}])
        return hidden, aliases


class _Memo:
    """Findings about code that only its content decides, kept between builds
    in the user's cache. Only ever a shortcut: a key names the content (a
    file's digest, a release's own module), so nothing stale can be found."""

    # Bump when what is kept changes.
    VERSION = 1

    def __init__(self):
        cache = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
        self._path = os.path.join(cache, 'strata', 'code-memo-v%d.json' % self.VERSION)
        self._found = None
        self._changed = False

    def get(self, key):
        return self._load().get(key)

    def put(self, key, value):
        self._load()[key] = value
        self._changed = True

    def _load(self):
        if self._found is None:
            try:
                with open(self._path, encoding='utf-8') as f:
                    self._found = json.load(f)
            except (OSError, ValueError):
                self._found = {}
            if not isinstance(self._found, dict):
                self._found = {}
        return self._found

    def save(self):
        """Written whole and renamed into place: a build reading it meanwhile
        sees the old memo or the new, and an unwritable cache costs time only."""
        if not self._changed:
            return
        try:
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=os.path.dirname(self._path), prefix='.code-memo-')
        except OSError:
            return
        try:
            with os.fdopen(fd, 'w', encoding='utf-8') as f:
                json.dump(self._found, f)
            os.replace(temporary, self._path)
            self._changed = False
        except OSError:
            os.unlink(temporary)


_memo = _Memo()


def _options_in(source):
    """What one file of a module says of its options: the names declared
    no_log=True, and each option's aliases. Specs declare options as
    `name=dict(no_log=True, aliases=[...])` or `'name': {...}` (suboptions
    too); a module may add aliases later (`spec['name']['aliases'] = [...]`);
    its DOCUMENTATION lists them all."""
    try:
        tree = ast.parse(_as_bytes(source))
    except SyntaxError:
        return set(), {}
    hidden, aliases = set(), {}
    for name, fields in _declarations(tree):
        if _is_true(fields.get('no_log')):
            hidden.add(name)
        aliases.setdefault(name, set()).update(_strings(fields.get('aliases')))
    for name, more in _assigned_aliases(tree) + _documented_aliases(tree):
        aliases.setdefault(name, set()).update(more)
    return hidden, aliases


def _declarations(tree):
    """(name, fields) for every `name=dict(...)` and `'name': {...}` in a file."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    yield key.value, _fields_of(value)
        elif isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg:
                    yield kw.arg, _fields_of(kw.value)


def _assigned_aliases(tree):
    """`spec['name']['aliases'] = [...]`."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            if (isinstance(target, ast.Subscript) and _constant(target.slice) == 'aliases'
                    and isinstance(target.value, ast.Subscript) and isinstance(_constant(target.value.slice), str)):
                found.append((_constant(target.value.slice), _strings(node.value)))
    return found


def _documented_aliases(tree):
    """The aliases DOCUMENTATION gives each option, suboptions included."""
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == 'DOCUMENTATION' for t in node.targets)
                and isinstance(_constant(node.value), str)):
            try:
                doc = yaml.safe_load(_constant(node.value))
            except yaml.YAMLError:
                return []
            return list(_option_aliases((doc or {}).get('options') if isinstance(doc, dict) else None))
    return []


def _option_aliases(options):
    for name, spec in (options or {}).items() if isinstance(options, dict) else ():
        if isinstance(spec, dict):
            yield name, {a for a in (spec.get('aliases') or []) if isinstance(a, str)}
            yield from _option_aliases(spec.get('suboptions'))


def _constant(node):
    return node.value if isinstance(node, ast.Constant) else None


def _strings(node):
    """The strings of a literal list or tuple."""
    if not isinstance(node, (ast.List, ast.Tuple)):
        return set()
    return {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}


def _fields_of(node):
    """An option declaration's fields: `dict(k=v)` or `{'k': v}`."""
    if isinstance(node, ast.Dict):
        return {k.value: v for k, v in zip(node.keys, node.values) if isinstance(k, ast.Constant)}
    if isinstance(node, ast.Call):
        return {kw.arg: kw.value for kw in node.keywords if kw.arg}
    return {}


def _is_true(node):
    return isinstance(node, ast.Constant) and node.value is True


_action_plugins = {}


def action_plugin_path(action, collections):
    """The file of the action plugin the worker will run for `action`."""
    key = (action, tuple(collections or ()))
    if key not in _action_plugins:
        _action_plugins[key] = _find_action_plugin(action, collections, _resolve(module_loader, action, collections))
    return _action_plugins[key]


def _find_action_plugin(action, collections, module):
    """Chosen as TaskExecutor chooses it: the module's declared action
    plugin, else one of the same name, else `normal` (which a playbook may
    shadow too)."""
    if module is not None and getattr(module, 'action_plugin', None):
        found = _resolve(action_loader, module.action_plugin, collections)
    else:
        found = _resolve(action_loader, action, collections)
    if found is None:
        found = _resolve(action_loader, NORMAL_ACTION, None)
    return found.plugin_resolved_path if found is not None else None


def is_core(path):
    return path is None or os.path.abspath(path).startswith(_ANSIBLE_CORE_DIR)


def _resolve(loader, name, collections):
    found = loader.find_plugin_with_context(name, collection_list=collections)
    return found if found.resolved and found.plugin_resolved_path else None


def _read_payload(action, module):
    if module is None:
        return {}
    path = module.plugin_resolved_path
    with open(path, 'rb') as f:
        source = f.read()
    files = {'module': source}
    if _is_python_module(source):
        files.update(api.module_utils_closure(action, _module_fqn(path, action), source))
    return {'path': path, 'files': files}


def _module_digest(payload):
    """The module's file with the module_utils closure module_common would
    pack with it. A module that is not ansible-core's own counts by its file
    even when it imports nothing; a core module counts only when a
    module_utils file it imports is shadowed by one outside ansible-core."""
    if not payload:
        return None
    files = {name: content for name, content in payload['files'].items()
             if (name == 'module' and not is_core(payload['path'])) or (name != 'module' and not _is_core_output(name, content))}
    return _digest_of(files) if files else None


def _is_python_module(source):
    return module_common.REPLACER in source or bool(module_common.NEW_STYLE_PYTHON_MODULE_RE.search(source))


def _module_fqn(path, action):
    # As module_common names it; a role's or playbook's module has no fqn of its own.
    try:
        return module_common._get_ansible_module_fqn(path)
    except ValueError:
        return 'ansible.modules.%s' % action.rsplit('.', 1)[-1]


def _is_core_output(name, content):
    """Whether a payload file is ansible-core's own, unchanged."""
    if name in _MADE_BY_THE_BUILDER:
        return True
    if not name.startswith('ansible/'):
        return False
    core_file = os.path.join(os.path.dirname(_ANSIBLE_CORE_DIR.rstrip(os.sep)), name)
    try:
        with open(core_file, 'rb') as f:
            return f.read() == _as_bytes(content)
    except OSError:
        return False


def _action_plugin_digest(path):
    """The plugin's file and the collection code it imports, transitively."""
    if is_core(path):
        return None
    return _digest_of(_python_closure(path))


def _python_closure(path):
    files, pending = {}, [path]
    while pending:
        current = pending.pop()
        if current in files or is_core(current):
            continue
        with open(current, 'rb') as f:
            files[current] = f.read()
        for imported in _collection_imports(files[current], _package_of(current)):
            spec = _find_spec(imported)
            if spec is not None and spec.origin and os.path.isfile(spec.origin):
                pending.append(spec.origin)
    # Named by where they are inside their package, not on this machine.
    return {_relative_name(p): content for p, content in files.items()}


def _collection_imports(source, package):
    """Absolute names of the ansible_collections modules `source` imports."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                if not package:
                    continue
                parts = package.split('.')
                base = '.'.join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            names.append(base)
            names.extend('%s.%s' % (base, alias.name) for alias in node.names)
    return [n for n in names if n.startswith('ansible_collections.')]


def _package_of(path):
    """The dotted package a collection's file is in; None outside collections."""
    relative = _relative_name(path)
    if not relative.startswith('ansible_collections' + os.sep):
        return None
    return '.'.join(os.path.dirname(relative).split(os.sep))


def _find_spec(name):
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return None


def _relative_name(path):
    marker = os.sep + 'ansible_collections' + os.sep
    return path[path.index(marker) + 1:] if marker in path else os.path.basename(path)


def _digest_of(files):
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode('utf-8', 'surrogateescape') + b'\0')
        digest.update(hashlib.sha256(_as_bytes(files[name])).digest())
    return digest.hexdigest()


def _as_bytes(content):
    # The module builder reads some module_utils as text (a collection's, on some releases).
    return content if isinstance(content, bytes) else str(content).encode('utf-8', 'surrogateescape')
