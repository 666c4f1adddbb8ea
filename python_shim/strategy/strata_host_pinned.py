# strata over Ansible's host_pinned strategy: free, with each host kept on one worker.

DOCUMENTATION = '''
    name: strata_host_pinned
    short_description: host_pinned, with each task of an image host cached as a container image layer
    description:
        - Runs plays exactly as the host_pinned strategy does; image hosts (those
          with C(strata_from)) get strata's layer cache, as with the strata strategy.
        - While strata is the configured strategy, a play's C(strategy=host_pinned) runs with this one.
    author: strata
'''

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ansible.plugins.strategy.host_pinned import StrategyModule as HostPinnedStrategyModule  # noqa: E402

from strata_ansible.mixin import StrataMixin  # noqa: E402


class StrategyModule(StrataMixin, HostPinnedStrategyModule):
    pass
