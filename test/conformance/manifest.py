"""Prints a JSON manifest of a container's filesystem: for every path, its
type, mode, owner and content digest (never its times). Run inside the
container: `docker exec -i C python3 - < manifest.py`."""

import hashlib
import json
import os
import stat

SKIP = {'/proc', '/sys', '/dev', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/.dockerenv',
        # Ansible's own remote temp and async job dirs: stock Ansible leaves them, strata keeps them out of images.
        '/root/.ansible', '/root/.ansible_async'}
# The same in other users' homes (a task with remote_user: app leaves /home/app/.ansible/tmp).
HOME_SKIP = {'.ansible', '.ansible_async'}


def skipped(path):
    return path in SKIP or (os.path.dirname(os.path.dirname(path)) == '/home' and os.path.basename(path) in HOME_SKIP)


def digest(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def entry(path):
    info = os.lstat(path)
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode):
        return ['l', mode, info.st_uid, info.st_gid, os.readlink(path)]
    if stat.S_ISDIR(info.st_mode):
        return ['d', mode, info.st_uid, info.st_gid, None]
    if stat.S_ISREG(info.st_mode):
        return ['f', mode, info.st_uid, info.st_gid, digest(path)]
    return ['o', mode, info.st_uid, info.st_gid, None]


manifest = {}
for root, dirs, files in os.walk('/'):
    dirs[:] = [d for d in dirs if not skipped(os.path.join(root, d))]
    for name in dirs + files:
        path = os.path.join(root, name)
        if not skipped(path):
            manifest[path] = entry(path)
print(json.dumps(manifest))
