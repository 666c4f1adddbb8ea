# strata over Ansible's debug strategy: linear, with the task debugger on.

DOCUMENTATION = '''
    name: strata_debug
    short_description: debug, with each task of an image host cached as a container image layer
    description:
        - Runs plays exactly as the debug strategy does; image hosts (those with
          C(strata_from)) get strata's layer cache, as with the strata strategy.
        - While strata is the configured strategy, a play's C(strategy=debug) runs with this one.
    author: strata
'''

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ansible.plugins.strategy.debug import StrategyModule as DebugStrategyModule  # noqa: E402

from strata_ansible.mixin import StrataMixin  # noqa: E402


class StrategyModule(StrataMixin, DebugStrategyModule):
    pass
