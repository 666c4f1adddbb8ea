"""Turning Ansible values into plain data the protocol can carry."""

from collections.abc import Mapping

PLAYBOOK_DIR_PLACEHOLDER = '{{ playbook_dir }}'


def to_plain(value, playbook_dir=None):
    """Plain dicts, lists, str, bytes, numbers, bools and None, whatever
    Ansible wrapped them in. Strings that start with the playbook's directory
    get it replaced, so the same checkout elsewhere gives the same value."""
    if isinstance(value, Mapping):
        return {str(k): to_plain(v, playbook_dir) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v, playbook_dir) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_plain(v, playbook_dir) for v in value), key=repr)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes):
        return bytes(value)
    text = str(value)
    if playbook_dir and text.startswith(playbook_dir) and text[len(playbook_dir):len(playbook_dir) + 1] in ('', '/'):
        return PLAYBOOK_DIR_PLACEHOLDER + text[len(playbook_dir):]
    return text
