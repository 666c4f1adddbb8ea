"""Turning Ansible values into plain data the protocol can carry."""

import re
from collections.abc import Mapping

PLAYBOOK_DIR_PLACEHOLDER = '{{ playbook_dir }}'
OMIT_PLACEHOLDER = '{{ omit }}'


def to_plain(value, playbook_dir=None, omit=None):
    """Plain dicts, lists, str, bytes, numbers, bools and None, whatever
    Ansible wrapped them in. The playbook's directory, wherever it appears in
    a string, is replaced by a placeholder, so the same checkout in another
    folder gives the same value; so is Ansible's omit token, which is new in
    every run."""
    substitutions = []
    if playbook_dir:
        substitutions.append((re.compile(re.escape(playbook_dir) + r'(?![\w-])'), PLAYBOOK_DIR_PLACEHOLDER))
    if omit:
        substitutions.append((re.compile(re.escape(omit)), OMIT_PLACEHOLDER))
    return _plain(value, substitutions)


def _plain(value, substitutions):
    if isinstance(value, Mapping):
        return {str(k): _plain(v, substitutions) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, substitutions) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v, substitutions) for v in value), key=repr)
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
    for pattern, placeholder in substitutions:
        text = pattern.sub(placeholder, text)
    return text
