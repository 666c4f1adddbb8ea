"""`fetch` from the cache.

A fetch changes nothing in the container; what it makes is a file on the
controller. Its cache entry therefore keeps that file (the engine puts a
large value in a blob, as it does any large result), and a hit writes it
back where the fetch put it, with `changed` as stock `fetch` reports it for
the copy it finds there: missing or different is changed, the same bytes
are ok. No container is involved.
"""

import os
import tempfile

from ansible.utils.fqcn import add_internal_fqcns
from ansible.utils.hashing import checksum as file_checksum
from ansible.utils.hashing import md5, md5s, secure_hash_s
from ansible.utils.path import makedirs_safe

from .plain import PLAYBOOK_DIR_PLACEHOLDER

ACTIONS = frozenset(add_internal_fqcns(('fetch',)))

# Where a stored run keeps the fetched file; never part of a replayed result.
_KEPT = '_strata_fetched'

# The keys in which fetch's result for a copy it wrote differs from its result for a copy it found.
_COPY_KEYS = ('changed', 'md5sum', 'dest', 'remote_md5sum', 'checksum', 'remote_checksum', 'file')


class NotKept(Exception):
    """The file a fetch wrote is not the one it reported: the entry cannot be kept."""


def keep_fetched(stored, looped, sources, playbook_dir):
    """`stored` (a fetch's stored result, changed in place) with, in each run
    that brought a file, the file's bytes, its source and where it went.
    `sources`: the `src` of each run, as templated for the fingerprint."""
    runs = [run for run in _runs(stored, looped) if not run.get('skipped')]
    for index, run in enumerate(runs):
        dest, checksum = run.get('dest'), run.get('checksum')
        if run.get('failed') or not dest or not checksum:
            continue
        try:
            with open(dest, 'rb') as f:
                data = f.read()
        except OSError as e:
            raise NotKept('cannot read the fetched file %s: %s' % (dest, e.strerror))
        if secure_hash_s(data) != checksum:
            raise NotKept('%s changed after the task fetched it' % dest)
        source = run.get('file') or (sources[index] if len(sources) == len(runs) else None)
        run[_KEPT] = {'data': data, 'file': source, 'dest': _placeholder_for(dest, playbook_dir)}
    return stored


def put_back(stored, looped, playbook_dir):
    """The result a hit replays (from `stored`, changed in place): each kept
    file written where the fetch wrote it, in this checkout."""
    runs = _runs(stored, looped)
    for run in runs:
        kept = run.pop(_KEPT, None)
        if kept is not None:
            _write_back(run, kept, playbook_dir)
    if looped and runs:
        stored['changed'] = any(run.get('changed') for run in runs)
    return stored


def _write_back(run, kept, playbook_dir):
    dest = kept['dest'].replace(PLAYBOOK_DIR_PLACEHOLDER, playbook_dir, 1)
    data = kept['data']
    checksum = secure_hash_s(data)
    for key in _COPY_KEYS:
        run.pop(key, None)
    if file_checksum(dest) == checksum:
        run.update(changed=False, md5sum=_md5(lambda: md5(dest)), file=kept['file'], dest=dest, checksum=checksum)
        return
    _write(dest, data)
    run.update(changed=True, md5sum=_md5(lambda: md5s(data)), dest=dest, remote_md5sum=None, checksum=checksum,
               remote_checksum=checksum)


def _write(dest, data):
    directory = os.path.dirname(dest)
    makedirs_safe(directory)
    fd, partial = tempfile.mkstemp(dir=directory, prefix='.strata-fetch-')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        # What fetch leaves: a file made with the controller's umask.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(partial, 0o666 & ~umask)
        os.replace(partial, dest)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise


def _md5(compute):
    # fetch reports None where md5 is not available (FIPS).
    try:
        return compute()
    except ValueError:
        return None


def _placeholder_for(path, playbook_dir):
    """`path` with this checkout's playbook directory as a placeholder, so another checkout writes into its own."""
    if playbook_dir and (path == playbook_dir or path.startswith(playbook_dir.rstrip(os.sep) + os.sep)):
        return PLAYBOOK_DIR_PLACEHOLDER + path[len(playbook_dir.rstrip(os.sep)):]
    return path


def _runs(stored, looped):
    if not looped:
        return [stored]
    return [item for item in stored.get('results', []) if isinstance(item, dict)]


def sources(inputs):
    """The `src` of each run of a fetch, from its fingerprint inputs (per loop item, skipped ones left out)."""
    runs = inputs.get('items')
    runs = [run for run in runs if not run.get('skipped')] if isinstance(runs, list) else [inputs]
    return [(run.get('args') or {}).get('src') for run in runs]
