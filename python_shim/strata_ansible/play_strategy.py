"""Which strata strategy runs a play that names its own strategy."""

from ansible import constants as C
from ansible.utils.fqcn import add_internal_fqcns

# Ansible's strategies and the strata variant of each (a mixin over it).
VARIANTS = {
    'linear': 'strata',
    'free': 'strata_free',
    'host_pinned': 'strata_host_pinned',
    'debug': 'strata_debug',
}

_BY_NAME = {name: variant for short, variant in VARIANTS.items() for name in add_internal_fqcns((short,))}


def strata_variant(strategy, configured=None):
    """The strategy a play runs with: its own, or the strata variant of it
    while strata is the configured strategy."""
    configured = C.DEFAULT_STRATEGY if configured is None else configured
    if configured not in ('strata', 'ansible.legacy.strata'):
        return strategy
    return _BY_NAME.get(strategy, strategy)
