# Keeps strata's layer cache in plays that choose their own strategy.

DOCUMENTATION = '''
    name: strata_play_strategy
    type: aggregate
    short_description: runs a play's own strategy (free, host_pinned, debug, linear) as its strata variant
    description:
        - A play's C(strategy) keyword overrides the configured strategy, so a
          play with C(strategy=free) would bypass strata and reach its image
          hosts over SSH. While strata is the configured strategy, this callback
          swaps such a play's strategy for the strata variant of the same one,
          so the play keeps its scheduling and its image hosts get the cache.
        - The playbook is not changed. Set STRATA_KEEP_PLAY_STRATEGY=1 (or
          C(keep_play_strategy = true) under C([strata]) in ansible.cfg) to run
          plays that name a strategy with that strategy alone.
    options:
      keep_play_strategy:
        description: Leave plays that name a strategy to that strategy, without strata.
        type: bool
        default: false
        env:
          - name: STRATA_KEEP_PLAY_STRATEGY
        ini:
          - section: strata
            key: keep_play_strategy
    author: strata
'''

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ansible.plugins.callback import CallbackBase  # noqa: E402

from strata_ansible.play_strategy import strata_variant  # noqa: E402


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'strata_play_strategy'
    CALLBACK_NEEDS_ENABLED = False

    def v2_playbook_on_play_start(self, play):
        # Sent before the play's strategy is loaded: this is the one moment it can still change.
        if not self.get_option('keep_play_strategy'):
            play.strategy = strata_variant(play.strategy)
