"""What a final image's provenance names that only Ansible knows (the engine
writes the document: src/cache/provenance.ts): the ansible-core release, the
playbooks and inventories the run was given, and the files that decided a
host's tasks, by path relative to the playbook's folder and sha256: the
playbooks, inventories and vars folders beside them, every file a task of
the host is written in, its role's defaults, vars, meta and handlers, and the controller
files it reads (templates, `copy: src=`...). A task whose values Ansible
hides (no_log, a module's secret options, environment:) adds no file.
"""

import collections
import os

from ansible import context
from ansible.release import __version__ as ANSIBLE_VERSION

from .controller_files import sha256_file

# Folders whose YAML sets variables for every host of a playbook or inventory.
_VARS_DIRS = ('group_vars', 'host_vars')
# What a role holds besides its tasks and files: its variables, dependencies and handlers.
_ROLE_DIRS = ('defaults', 'vars', 'meta', 'handlers')


def _files_under(path):
    if os.path.isfile(path):
        return [path]
    found = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        found.extend(os.path.join(root, name) for name in sorted(files))
    return found


def _defined_in(task):
    """The file the task is written in (get_path says `path:line`)."""
    path = (task.get_path() or '').rpartition(':')[0]
    return [os.path.abspath(path)] if path else []


def _role_of(task):
    """The folder of the task's role, if it has one."""
    path = getattr(getattr(task, '_role', None), '_role_path', None)
    return [path] if path else []


def _role_files(role_path):
    return [os.path.abspath(f) for name in _ROLE_DIRS for f in _files_under(os.path.join(role_path, name))]


def _run_inputs():
    """The playbooks and inventories the run was given, as given, and the files they and their vars folders are."""
    playbooks = [str(p) for p in context.CLIARGS.get('args') or ()]
    inventories = [str(i) for i in context.CLIARGS.get('inventory') or ()]
    files = []
    for given in playbooks + inventories:
        if not os.path.exists(given):
            continue  # an inventory script's name, a host list
        files.extend(_files_under(given))
        folder = given if os.path.isdir(given) else os.path.dirname(os.path.abspath(given))
        for name in _VARS_DIRS:
            files.extend(_files_under(os.path.join(folder, name)))
    return playbooks, inventories, [os.path.abspath(f) for f in files]


class Sources:
    """The files each host's tasks were decided by, noted as the tasks go to
    the engine (names only: the files are read, and roles' folders walked,
    once, when the host finishes)."""

    def __init__(self):
        self._files = collections.defaultdict(set)
        self._roles = collections.defaultdict(set)
        self._playbook_dir = {}

    def note(self, host, task, described, playbook_dir):
        self._playbook_dir.setdefault(host, playbook_dir)
        if described.secret:
            return  # nothing of it, not even where it is written: its action alone names it
        files = self._files[host]
        files.update(_defined_in(task))
        files.update(described.sources)
        self._roles[host].update(_role_of(task))

    def for_host(self, host):
        """The provenance inputs of finish_host (docs/PROTOCOL.md)."""
        playbooks, inventories, run_files = _run_inputs()
        top = self._playbook_dir.get(host) or os.getcwd()
        files = []
        roles = [f for role in sorted(self._roles[host]) for f in _role_files(role)]
        for path in sorted(self._files[host].union(run_files, roles)):
            if os.path.isfile(path):
                files.append({'path': os.path.relpath(path, top), 'sha256': sha256_file(path)})
        named = [_relative(given, top) for given in playbooks], [_relative(given, top) for given in inventories]
        return {'ansible_core': ANSIBLE_VERSION, 'playbooks': named[0], 'inventories': named[1], 'files': files}


def _relative(given, top):
    """A path the run was given, relative to the playbook's folder when it is in it (Ansible makes inventories absolute)."""
    if not os.path.exists(given):
        return given
    relative = os.path.relpath(os.path.abspath(given), top)
    return given if relative.startswith('..') else relative
