"""Turning Ansible values into plain data the protocol can carry."""

import re
from collections.abc import Mapping

PLAYBOOK_DIR_PLACEHOLDER = '{{ playbook_dir }}'


def to_plain(value, playbook_dir=None):
    """Plain dicts, lists, str, bytes, numbers, bools and None, whatever
    Ansible wrapped them in. The playbook's directory, wherever it appears in
    a string, is replaced by a placeholder, so the same checkout in another
    folder gives the same value."""
    pattern = re.compile(re.escape(playbook_dir) + r'(?![\w-])') if playbook_dir else None
    return _plain(value, pattern)


def _plain(value, pattern):
    if isinstance(value, Mapping):
        return {str(k): _plain(v, pattern) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, pattern) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v, pattern) for v in value), key=repr)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes):
        return bytes(value)
    # str.__str__ makes a plain str of a str subclass (AnsibleUnsafeText).
    text = str.__str__(value) if isinstance(value, str) else str(value)
    return pattern.sub(PLAYBOOK_DIR_PLACEHOLDER, text) if pattern else text
