# strata: Ansible's linear strategy with a per-task image layer cache.
# See README.md in the strata package for what it does and how to use it.

DOCUMENTATION = '''
    name: strata
    short_description: linear, with each task of an image host cached as a container image layer
    description:
        - Runs plays exactly as the linear strategy does. For hosts with a
          C(strata_from) inventory variable, each task is fingerprinted by the
          strata engine; a task already in the cache is replayed from its
          stored result without starting a container, and a task that is not
          runs in a container the engine manages and is committed as a layer.
        - Hosts without C(strata_from) are left to linear unchanged.
    author: strata
'''

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule  # noqa: E402

from strata_ansible.mixin import StrataMixin  # noqa: E402


class StrategyModule(StrataMixin, LinearStrategyModule):
    pass
