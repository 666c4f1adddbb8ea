# strata: starts the strata engine as soon as the playbook starts, so that its
# start-up overlaps Ansible's own work on the plays. Only an accelerator: the
# strata strategy starts the engine itself when this plugin is not installed.

DOCUMENTATION = '''
    name: strata_prestart
    type: aggregate
    short_description: start the strata engine early when the strata strategy is in use
    description:
        - Loaded by itself (it needs no enabling) from the callback path that
          C(strata env) sets. Does nothing unless the strategy is strata.
    author: strata
'''

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ansible import constants as C  # noqa: E402
from ansible.errors import AnsibleError  # noqa: E402
from ansible.plugins.callback import CallbackBase  # noqa: E402

try:
    from strata_ansible.build import Build  # noqa: E402
except AnsibleError:
    # An ansible-core strata does not support: the strata strategy says so.
    Build = None


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'strata_prestart'
    CALLBACK_NEEDS_ENABLED = False

    def v2_playbook_on_start(self, playbook):
        if Build and C.DEFAULT_STRATEGY == 'strata':
            Build.prestart()
