# strata over Ansible's free strategy: each host runs its tasks as fast as it can.

DOCUMENTATION = '''
    name: strata_free
    short_description: free, with each task of an image host cached as a container image layer
    description:
        - Runs plays exactly as the free strategy does; image hosts (those with
          C(strata_from)) get strata's layer cache, as with the strata strategy.
        - While strata is the configured strategy, a play's C(strategy=free) runs with this one.
    author: strata
'''

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ansible.plugins.strategy.free import StrategyModule as FreeStrategyModule  # noqa: E402

from strata_ansible.mixin import StrataMixin  # noqa: E402


class StrategyModule(StrataMixin, FreeStrategyModule):
    pass
