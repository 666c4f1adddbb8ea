"""The controller-side files a task reads, by content: what the fingerprint
sees of `copy: src=`, `template: src=`, `script:` and friends.

Files are found through Ansible's own search path (the role's `files/` and
`templates/`, then the playbook's), as the action plugins find them. Content
and mode count; paths on the controller and mtimes do not, so a fresh
checkout elsewhere fingerprints the same.
"""

import hashlib
import os
import shlex
import stat

from ansible.module_utils.parsing.convert_bool import boolean

from .compat import api

# Which arg names a controller-side file, and under which search-path subdir
# the action looks for it. A task whose args say the file is on the remote
# side reads nothing here.
_FILE_ARGS = {
    'copy': ('src', 'files'),
    'template': ('src', 'templates'),
    'unarchive': ('src', 'files'),
    'assemble': ('src', 'files'),
    'script': (None, 'files'),
}

# assemble reads from the remote side unless told otherwise; the others from the controller.
_REMOTE_BY_DEFAULT = {'assemble'}

# template options that change how the source renders.
_TEMPLATE_ENV_ARGS = ('newline_sequence', 'block_start_string', 'block_end_string', 'variable_start_string',
                      'variable_end_string', 'comment_start_string', 'comment_end_string')


def short_action(action):
    return action.rsplit('.', 1)[-1]


def _reads_controller_file(name, args):
    if name not in _FILE_ARGS:
        return False
    remote = boolean(args.get('remote_src', name in _REMOTE_BY_DEFAULT), strict=False)
    return not remote


def _script_path(args):
    command = args.get('cmd') or args.get('_raw_params') or ''
    words = shlex.split(command)
    return words[0] if words else None


def _sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _entry(arg, name, sha, mode):
    return {'arg': arg, 'path': name, 'sha256': sha, 'mode': mode}


def _tree_entries(arg, name, root, follow):
    """One entry per file and directory under `root`, by path relative to it,
    sorted. With `follow` (copy's local_follow, on by default) a link counts
    as what it points to, as copy copies it; without, as the link itself."""
    entries = [_entry(arg, name, None, stat.S_IMODE(os.stat(root).st_mode))]
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
                entries.append(_entry(arg, relative + '/', None, stat.S_IMODE(info.st_mode)))
            else:
                entries.append(_entry(arg, relative, _sha256_file(full), stat.S_IMODE(info.st_mode)))
    return sorted(entries, key=lambda e: e['path'])


def _file_or_tree(arg, name, path, follow=True):
    if os.path.isdir(path):
        return _tree_entries(arg, name, path, follow)
    return [_entry(arg, name, _sha256_file(path), stat.S_IMODE(os.stat(path).st_mode))]


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


def file_inputs(action, args, search_path, task_vars, loader):
    """The fingerprint entries for the controller-side files one run of a
    task reads, given its templated args."""
    name = short_action(action)
    if not _reads_controller_file(name, args):
        return []
    arg, subdir = _FILE_ARGS[name]
    given = _script_path(args) if name == 'script' else args.get(arg)
    if not given or (name == 'unarchive' and '://' in given):
        return []
    path = loader.path_dwim_relative_stack(search_path, subdir, given)
    if name == 'template':
        rendered = render_template(path, args, task_vars, loader)
        sha = hashlib.sha256(rendered.encode('utf-8', errors='surrogateescape')).hexdigest()
        return [_entry(arg, given, sha, stat.S_IMODE(os.stat(path).st_mode))]
    follow = boolean(args.get('local_follow', True), strict=False)
    return _file_or_tree(arg or 'script', given, path, follow)
