"""Frames of the strata protocol, as docs/PROTOCOL.md describes them.

The engine's side is src/protocol/frames.ts; both follow that page.
"""

import hashlib
import zlib

import msgpack

PROTOCOL_VERSION = 9
CLIENT_NAME = 'strata-ansible/1'

# What task_done tells the engine to do with the container after a task.
COMMIT = 'commit'    # succeeded, or failed and was handled: keep it as a layer
SKIP = 'skip'        # ran, but nothing of it is kept: no entry, the chain stays where it was
DISCARD = 'discard'  # failed or unreachable: keep nothing


def encode(frame):
    return msgpack.packb(frame, use_bin_type=True)


def decode(data):
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def hello(purpose='build'):
    return {'type': 'hello', 'protocol': PROTOCOL_VERSION, 'client': CLIENT_NAME, 'purpose': purpose}


def open_host(host, base, tags, config, push, squash, python_use, interpreter, source_date_epoch=None):
    """`source_date_epoch`: None, or (value, the name of the variable that set it)."""
    epoch = None if source_date_epoch is None else {'value': source_date_epoch[0], 'from': source_date_epoch[1]}
    return {'type': 'open_host', 'host': host, 'base': base, 'tags': tags, 'config': config, 'push': push,
            'squash': squash, 'python': {'use': python_use, 'interpreter': interpreter}, 'source_date_epoch': epoch}


def scratch_files(host, files):
    return {'type': 'scratch_files', 'host': host, 'files': files}


def task(host, label, inputs, lookup, cacheable, invalidates, secret):
    return {'type': 'task', 'host': host, 'label': label, 'inputs': inputs,
            'lookup': lookup, 'cacheable': cacheable, 'invalidates': invalidates, 'secret': secret}


def digest(frame):
    """What a task frame is known by in a hit reply's `ahead`: the digest of its
    msgpack form, before any `digest`, `expect` or `id` is added."""
    return hashlib.sha256(encode(frame)).hexdigest()


def task_done(host, outcome, result=None):
    return {'type': 'task_done', 'host': host, 'outcome': outcome, 'result': None if result is None else pack_result(result)}


def pack_result(result):
    """A result as it travels and is stored: its msgpack, raw-deflated. The
    engine keeps these bytes as they are and hands them back on a hit."""
    packer = zlib.compressobj(wbits=-15)
    return packer.compress(encode(result)) + packer.flush()


def unpack_result(packed):
    return decode(zlib.decompress(packed, wbits=-15))


def finish_host(host, provenance=None):
    return {'type': 'finish_host', 'host': host, 'provenance': provenance}


def end_build():
    return {'type': 'end_build'}


def exec_command(container, command, user, stdin):
    return {'type': 'exec', 'container': container, 'command': command, 'user': user, 'stdin': stdin}
