"""The controller-side files a task reads, by content: what the fingerprint
sees of `copy: src=`, `template: src=`, `script:`, a collection's
`patch: src=` and friends.

Files are found through Ansible's own search path (the role's `files/` and
`templates/`, then the playbook's), as the action plugins find them. Content
counts, and mode where the task copies it (`mode: preserve`); paths on the
controller and mtimes do not, so a fresh checkout elsewhere fingerprints the
same.
"""

import contextlib
import hashlib
import os
import re
import shlex
import stat

from ansible.module_utils.parsing.convert_bool import boolean

from .code_inputs import action_plugin_path, is_core
from .compat import api

class Reader:
    """What one of ansible-core's action plugins reads on the controller:
    the file `arg` names (None: the first word of the command line), looked
    up under `subdir` of the search path, unless the args say it is on the
    remote side (`remote_when`: arg -> the value meaning remote)."""

    def __init__(self, arg, subdir, remote_when=None, remote_by_default=False):
        self.arg = arg
        self.subdir = subdir
        self.remote_when = remote_when or {'remote_src': True}
        self.remote_by_default = remote_by_default

    def is_remote(self, args):
        for name, remote_value in self.remote_when.items():
            if name in args:
                return boolean(args[name], strict=False) == remote_value
        return self.remote_by_default


# ansible-core's action plugins that read controller files, by plugin name;
# its others (command, package, service, ...) read none. A module with no
# action plugin of its own runs through `normal`, which reads none either.
_CORE_READERS = {
    'copy': Reader('src', 'files'),
    'template': Reader('src', 'templates'),
    'unarchive': Reader('src', 'files', {'remote_src': True, 'copy': False}),
    'assemble': Reader('src', 'files', remote_by_default=True),
    'script': Reader(None, 'files'),
    'uri': Reader('src', 'files'),
}

# Arg names that, by Ansible's convention, name a source on the controller.
_SOURCE_ARG = re.compile(r'(^|_)src$')

# template options that change how the source renders.
_TEMPLATE_ENV_ARGS = ('newline_sequence', 'block_start_string', 'block_end_string', 'variable_start_string',
                      'variable_end_string', 'comment_start_string', 'comment_end_string')


def short_action(action):
    return action.rsplit('.', 1)[-1]


def _script_path(args):
    command = args.get('cmd') or args.get('_raw_params') or ''
    words = shlex.split(command)
    return words[0] if words else None


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


# The controller files read while noting_sources() is open (see there).
_noted = None


@contextlib.contextmanager
def noting_sources():
    """Collects, as a set of absolute paths, the controller files the
    fingerprint reads meanwhile: the files a final image's provenance names."""
    global _noted
    outer, _noted = _noted, set()
    try:
        yield _noted
    finally:
        _noted = outer


def _note(path):
    if _noted is not None:
        _noted.add(os.path.abspath(path))


def _entry(arg, name, sha, mode):
    return {'arg': arg, 'path': name, 'sha256': sha, 'mode': mode}


def _tree_entries(arg, name, root, follow, preserve):
    """One entry per file and directory under `root`, by path relative to it,
    sorted. With `follow` (copy's local_follow, on by default) a link counts
    as what it points to, as copy copies it; without, as the link itself."""
    entries = [_entry(arg, name, None, _mode(os.stat(root), preserve))]
    for directory, subdirs, files in os.walk(root, followlinks=follow):
        subdirs.sort()
        links_to_dirs = [] if follow else [d for d in subdirs if os.path.islink(os.path.join(directory, d))]
        for child in sorted(files) + links_to_dirs + [d for d in subdirs if d not in links_to_dirs]:
            full = os.path.join(directory, child)
            relative = os.path.join(name, os.path.relpath(full, root))
            info = os.stat(full) if follow else os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                entries.append(_entry(arg, relative, hashlib.sha256(os.readlink(full).encode()).hexdigest(), 'link'))
            elif stat.S_ISDIR(info.st_mode):
                entries.append(_entry(arg, relative + '/', None, _mode(info, preserve)))
            else:
                _note(full)
                entries.append(_entry(arg, relative, sha256_file(full), _mode(info, preserve)))
    return sorted(entries, key=lambda e: e['path'])


def _file_or_tree(arg, name, path, follow=True, preserve=False):
    if os.path.isdir(path):
        return _tree_entries(arg, name, path, follow, preserve)
    _note(path)
    return [_entry(arg, name, sha256_file(path), _mode(os.stat(path), preserve))]


def _mode(info, preserve):
    """A source's mode decides the copy's only with `mode: preserve`."""
    return stat.S_IMODE(info.st_mode) if preserve else None


def render_template(path, args, task_vars, loader):
    """The template as the template action would render it, with the
    template_* variables that change on every run (run date, mtime, the
    controller's host name and user) held still."""
    real = loader.get_real_file(path)
    try:
        with open(real, 'rb') as f:
            source = f.read().decode('utf-8', errors='surrogateescape')
    finally:
        loader.cleanup_tmp_file(real)
    searchpath = list(task_vars.get('ansible_search_path', [])) + [loader.get_basedir(), os.path.dirname(path)]
    searchpath = [p for base in searchpath for p in (os.path.join(base, 'templates'), base)]
    src = args.get('src')
    template_vars = dict(task_vars)
    template_vars.update({
        'template_host': 'strata', 'template_uid': 'strata', 'template_path': src, 'template_fullpath': src,
        'template_destpath': args.get('dest'), 'template_mtime': None, 'template_run_date': None,
    })
    managed = api.ansible_managed(src, task_vars)
    if managed is not None:
        template_vars['ansible_managed'] = managed
    options = {k: args[k] for k in _TEMPLATE_ENV_ARGS if args.get(k) is not None}
    options['trim_blocks'] = boolean(args.get('trim_blocks', True), strict=False)
    options['lstrip_blocks'] = boolean(args.get('lstrip_blocks', False), strict=False)
    return api.render_template(source, searchpath, template_vars, options, loader)


def file_inputs(action, args, search_path, task_vars, loader, collections=None):
    """The fingerprint entries for the controller-side files one run of a
    task reads, given its templated args. The action plugin that will run
    decides: one of ansible-core's reads what it is known to read; any other
    may read every source its args name, so each arg that names a file or
    directory on the controller counts."""
    plugin = action_plugin_path(action, collections)
    preserve = args.get('mode') == 'preserve'
    if is_core(plugin):
        reader = _CORE_READERS.get(os.path.splitext(os.path.basename(plugin or ''))[0])
        return _core_inputs(reader, args, search_path, task_vars, loader, preserve) if reader else []
    return _named_sources(args, search_path, loader, preserve)


def _core_inputs(reader, args, search_path, task_vars, loader, preserve):
    if reader.is_remote(args):
        return []
    given = _script_path(args) if reader.arg is None else args.get(reader.arg)
    if not isinstance(given, str) or not given or '://' in given:
        return []
    path = loader.path_dwim_relative_stack(search_path, reader.subdir, given)
    arg = reader.arg or 'script'
    if reader.subdir == 'templates':
        _note(path)
        rendered = render_template(path, args, task_vars, loader)
        sha = hashlib.sha256(rendered.encode('utf-8', errors='surrogateescape')).hexdigest()
        return [_entry(arg, given, sha, _mode(os.stat(path), preserve))]
    follow = boolean(args.get('local_follow', True), strict=False)
    return _file_or_tree(arg, given, path, follow, preserve)


def _named_sources(args, search_path, loader, preserve):
    """Every controller file or directory the args name, as an action plugin
    would find it (`_find_needle`: the search path's files/, then itself).
    A relative name counts wherever it is found; an absolute one when the
    arg is a source by name (`src`, `*_src`) or it is a file, so a `dest: /`
    does not hash the controller's root."""
    if boolean(args.get('remote_src', False), strict=False):
        return []
    entries = []
    for arg, value in sorted(args.items()):
        if not isinstance(value, str) or not value or arg.startswith('_') or '\n' in value or '://' in value:
            continue
        if os.path.isabs(value):
            path = value
            if not os.path.exists(path) or (os.path.isdir(path) and not _SOURCE_ARG.search(arg)):
                continue
        else:
            path = loader.path_dwim_relative_stack(search_path, 'files', value)
            if not path or not os.path.exists(path):
                continue
        entries.extend(_file_or_tree(arg, value, path, True, preserve))
    return entries
