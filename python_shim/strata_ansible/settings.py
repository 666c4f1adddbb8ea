"""The plugin's settings. A strategy plugin has no get_option(), so its options
are registered with Ansible's config manager, which then reads them from the
environment or ansible.cfg like any plugin option."""

from ansible import constants as C

PLUGIN_TYPE = 'strategy'
PLUGIN_NAME = 'strata'

OPTIONS = {
    'engine': {
        'description': 'Address of a running engine (ws://HOST:PORT or ws+unix:///path). Unset: start a private one per run.',
        'env': [{'name': 'STRATA_ENGINE'}],
        'ini': [{'section': 'strata', 'key': 'engine'}],
        'default': None,
    },
    'token': {
        'description': 'The shared secret of the engine named by STRATA_ENGINE.',
        'env': [{'name': 'STRATA_TOKEN'}],
        'default': None,
    },
    'tls_ca': {
        'description': 'A PEM file of the certificate authority (or the certificate itself) of a wss:// engine.',
        'env': [{'name': 'STRATA_TLS_CA'}],
        'ini': [{'section': 'strata', 'key': 'tls_ca'}],
        'default': None,
    },
    'no_cache': {
        'description': 'Run every task, reading nothing from the cache (what is built is still cached).',
        'env': [{'name': 'STRATA_NO_CACHE'}],
        'ini': [{'section': 'strata', 'key': 'no_cache'}],
        'type': 'boolean',
        'default': False,
    },
    'private_engine': {
        'description': 'Start an engine for this run alone, instead of using (or starting) the per-user engine that later builds reuse.',
        'env': [{'name': 'STRATA_PRIVATE_ENGINE'}],
        'ini': [{'section': 'strata', 'key': 'private_engine'}],
        'type': 'boolean',
        'default': False,
    },
    'engine_idle': {
        'description': 'Seconds the per-user engine stays up without a build before it exits.',
        'env': [{'name': 'STRATA_ENGINE_IDLE'}],
        'ini': [{'section': 'strata', 'key': 'engine_idle'}],
        'type': 'integer',
        'default': 600,
    },
    'profile': {
        'description': "Print, after the recap, where strata's own time went (per task and per part).",
        'env': [{'name': 'STRATA_PROFILE'}],
        'type': 'boolean',
        'default': False,
    },
    'node': {
        'description': 'The Node.js executable that runs a private engine.',
        'env': [{'name': 'STRATA_NODE'}],
        'ini': [{'section': 'strata', 'key': 'node'}],
        'default': 'node',
    },
}


class Settings:
    def __init__(self):
        C.config.initialize_plugin_configuration_definitions(PLUGIN_TYPE, PLUGIN_NAME, OPTIONS)
        get = lambda name: C.config.get_config_value(name, plugin_type=PLUGIN_TYPE, plugin_name=PLUGIN_NAME)
        self.engine = get('engine')
        self.token = get('token')
        self.tls_ca = get('tls_ca')
        self.no_cache = bool(get('no_cache'))
        self.node = get('node')
        self.private_engine = bool(get('private_engine'))
        self.engine_idle = int(get('engine_idle'))
        self.profile = bool(get('profile'))
