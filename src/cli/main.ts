// The `strata` command: what a user types, and what the plugin starts.

import { Command, Option } from 'commander';
import { LOG_FORMATS, LOG_LEVELS } from '../engine/log';
import { ENGINE_VERSION } from '../engine/version';
import { ExitCode, userErrorFrom } from './errors';

// Each command's module is loaded only when that command runs: the engine
// (`strata serve`) starts with every build, so what it loads is every build's cost.
function lazy<M, K extends keyof M>(load: () => Promise<M>, name: K): (...args: unknown[]) => Promise<void> {
  return async (...args) => {
    await ((await load())[name] as (...a: unknown[]) => unknown)(...args);
  };
}

function program(): Command {
  const cli = new Command('strata')
    .description('A per-task layer cache for building container images with stock ansible-playbook.')
    .version(ENGINE_VERSION)
    .showHelpAfterError('(run `strata --help` for the commands, `strata COMMAND --help` for one)')
    .configureOutput({ outputError: (text, write) => write(text) })
    .exitOverride();

  cli
    .command('serve')
    .description('Run an engine for builds to share, logging every request.')
    .option('--listen <address>', 'HOST:PORT or unix:/path/to.sock to listen on (a non-loopback HOST needs --tls-cert/--tls-key or --insecure-plaintext)', '127.0.0.1:0')
    .option('--token <token>', 'shared secret builds must present (default: --token-file, else $STRATA_TOKEN, else a random one); visible in `ps`, so prefer those')
    .option('--token-file <path>', 'read the token from this file')
    .option('--tls-cert <path>', 'serve wss:// with this PEM certificate (with --tls-key)')
    .option('--tls-key <path>', "the certificate's PEM private key")
    .option('--insecure-plaintext', 'allow a non-loopback address without TLS: the token and every frame cross the network in the clear')
    .addOption(new Option('--log-level <level>', 'least important event to log').choices(LOG_LEVELS).default('info'))
    .addOption(new Option('--log-format <format>', 'how to write log lines').choices(LOG_FORMATS).default('text'))
    .addOption(new Option('--private', 'serve one build for the plugin, then exit').hideHelp())
    .option('--idle-exit <seconds>', 'exit after this many seconds without a build (the per-user engine builds start uses 600)')
    .option('--pid-file <path>', 'write the engine\'s process ID to this file')
    .addHelpText(
      'after',
      `
What the token grants: whoever holds it can run builds on this engine, which
means starting containers, committing images and tagging any image name with
any content and command, through this engine's access to Docker. Treat it like
access to the Docker socket itself.

Examples:
  $ strata serve                       # loopback, random port; paste the export lines it prints
  $ strata serve --listen unix:/tmp/strata.sock --log-format json
  $ strata serve --listen 0.0.0.0:7700 --tls-cert cert.pem --tls-key key.pem --token-file token`,
    )
    .action(lazy(() => import('./serve'), 'serveCommand'));

  cli
    .command('env')
    .description('Print the shell exports that make ansible-playbook use strata, or with --ansible-cfg the lines for ansible.cfg.')
    .option('--ansible-cfg', "print ansible.cfg lines instead (a project's ansible.cfg then needs no eval in each shell)")
    .addHelpText(
      'after',
      `
Examples:
  $ eval "$(npx strata-ansible env)"
  $ ansible-playbook -i inventory.yml site.yml

  $ strata env --ansible-cfg >> ansible.cfg   # once per project (merge by hand if it has [defaults])`,
    )
    .action(lazy(() => import('./env'), 'envCommand'));

  cli
    .command('ls')
    .description('List cache entries: host, task, fingerprint, image, layer size, created, last used.')
    .option('--host <name>', 'only the entries of this inventory host')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ strata ls
  $ strata ls --host webapp --json`,
    )
    .action(lazy(() => import('./cache-commands'), 'lsCommand'));

  cli
    .command('history')
    .description('Show which task made each layer of an image.')
    .argument('<image>', 'an image tag or ID')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Example:
  $ strata history strata-example/web:latest`,
    )
    .action(lazy(() => import('./history'), 'historyCommand'));

  cli
    .command('provenance')
    .description('Show how an image was made: its base, ansible-core, files, and each task\'s layer (SLSA provenance).')
    .argument('<image>', 'an image tag or ID')
    .option('--json', 'print the in-toto statement as JSON')
    .option('--verify', 'check the image\'s layers against the document and its signature by this cache\'s key; exit 1 at the first mismatch')
    .addHelpText(
      'after',
      `
Examples:
  $ strata provenance strata-example/web:latest
  $ strata provenance strata-example/web:latest --verify`,
    )
    .action(lazy(() => import('./provenance'), 'provenanceCommand'));

  cli
    .command('explain')
    .description("Say why a task missed the cache: which of its inputs differ from the closest earlier entry's.")
    .argument('<host-or-fingerprint>', "an inventory host (its latest build's first built task) or an entry's fingerprint")
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ strata explain webapp          # why the last build of webapp started building where it did
  $ strata explain 1a2b3c4d5e6f    # one entry, by fingerprint (from strata ls)`,
    )
    .action(lazy(() => import('./cache-commands'), 'explainCommand'));

  cli
    .command('stop')
    .description("Stop this user's per-user engines, the ones builds start and reuse (each removes its builds' containers first).")
    .action(lazy(() => import('./stop'), 'stopCommand'));

  cli
    .command('doctor')
    .description('Check everything a build needs (Docker, Ansible, its Python libraries, base images); say the fix for what is missing.')
    .option('-i, --inventory <path>', "also check this inventory's image hosts: their base images are in Docker and have python3")
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Exit status: 0 when a build has everything it needs, 1 when something is missing.

Examples:
  $ strata doctor
  $ strata doctor -i inventory.yml --json`,
    )
    .action(lazy(() => import('./doctor'), 'doctorCommand'));

  cli
    .command('prune')
    .description('Remove cache entries. Layers a tagged image still uses are never removed.')
    .option('--older-than <duration>', 'entries not used for this long (30m, 12h, 7d, 2w)')
    .option('--keep-last <n>', 'keep, for each host and each task position, the n entries used most recently')
    .option('--all', 'every entry')
    .option('--host <name>', 'only the entries of this inventory host')
    .option('--dry-run', 'say what would be removed, remove nothing')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ strata prune --older-than 7d --dry-run
  $ strata prune --keep-last 2
  $ strata prune --all --host webapp`,
    )
    .action(lazy(() => import('./cache-commands'), 'pruneCommand'));

  return cli;
}

/**
 * A reader that has read enough (`strata ls --json | head`) closes the pipe:
 * that ends the command quietly, as it ends any Unix tool.
 */
function quietOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      process.exit(process.exitCode ?? 0);
    });
  }
}

export async function main(argv: string[]): Promise<void> {
  quietOnClosedPipe();
  try {
    await program().parseAsync(argv);
  } catch (err) {
    const code = (err as { code?: string; exitCode?: number }).code;
    if (code?.startsWith('commander.')) {
      const exitCode = (err as { exitCode: number }).exitCode;
      process.exitCode = exitCode === 0 ? 0 : ExitCode.Usage;
      return;
    }
    const userError = userErrorFrom(err);
    process.stderr.write(`strata: ${userError.message}\n`);
    process.exitCode = userError.exitCode;
  }
}
