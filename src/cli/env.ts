// `strata env`: the exports that point stock ansible-playbook at the strata
// strategy in this package, from whatever directory it is run.

import { join } from 'node:path';
import { PACKAGE_ROOT } from '../engine/version';

export function strategyPluginDir(): string {
  return join(PACKAGE_ROOT, 'python_shim', 'strategy');
}

/** The callback that gives plays naming their own strategy (free, debug...) its strata variant. */
export function callbackPluginDir(): string {
  return join(PACKAGE_ROOT, 'python_shim', 'callback');
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export function envExports(): string[] {
  return [
    `export ANSIBLE_STRATEGY_PLUGINS=${shellQuote(strategyPluginDir())}"\${ANSIBLE_STRATEGY_PLUGINS:+:\$ANSIBLE_STRATEGY_PLUGINS}"`,
    `export ANSIBLE_CALLBACK_PLUGINS=${shellQuote(callbackPluginDir())}"\${ANSIBLE_CALLBACK_PLUGINS:+:\$ANSIBLE_CALLBACK_PLUGINS}"`,
    'export ANSIBLE_STRATEGY=strata',
    // The plugin starts its private engine with the same Node that ran this.
    `export STRATA_NODE=${shellQuote(process.execPath)}`,
  ];
}

/** The same settings as envExports(), as ansible.cfg sections: `[strata] node` is the plugin's own option. */
export function ansibleCfgLines(): string[] {
  return [
    '[defaults]',
    `strategy_plugins = ${strategyPluginDir()}`,
    `callback_plugins = ${callbackPluginDir()}`,
    'strategy = strata',
    '',
    '[strata]',
    `node = ${process.execPath}`,
  ];
}

export function envCommand(opts: { ansibleCfg?: boolean } = {}): void {
  process.stdout.write((opts.ansibleCfg ? ansibleCfgLines() : envExports()).join('\n') + '\n');
}
