// The `strata` command: what a user types, and what the plugin starts.

import { Command, Option } from 'commander';
import { ENGINE_VERSION } from '../engine/version';
import { envCommand } from './env';
import { ExitCode, UserError } from './errors';
import { serveCommand } from './serve';

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
    .option('--listen <address>', 'HOST:PORT or unix:/path/to.sock to listen on', '127.0.0.1:0')
    .option('--token <token>', 'shared secret builds must present (default: $STRATA_TOKEN, else a random one)')
    .addOption(new Option('--log-level <level>', 'least important event to log').choices(['debug', 'info', 'warn', 'error', 'silent']).default('info'))
    .addOption(new Option('--log-format <format>', 'how to write log lines').choices(['text', 'json']).default('text'))
    .addOption(new Option('--private', 'serve one build for the plugin, then exit').hideHelp())
    .addHelpText(
      'after',
      `
Examples:
  $ strata serve                       # loopback, random port; paste the export lines it prints
  $ strata serve --listen unix:/tmp/strata.sock --log-format json`,
    )
    .action(serveCommand);

  cli
    .command('env')
    .description('Print the shell exports that make ansible-playbook use strata.')
    .addHelpText(
      'after',
      `
Example:
  $ eval "$(npx strata env)"
  $ ansible-playbook -i inventory.yml site.yml`,
    )
    .action(envCommand);

  return cli;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (err) {
    const code = (err as { code?: string; exitCode?: number }).code;
    if (code?.startsWith('commander.')) {
      const exitCode = (err as { exitCode: number }).exitCode;
      process.exitCode = exitCode === 0 ? 0 : ExitCode.Usage;
      return;
    }
    if (err instanceof UserError) {
      process.stderr.write(`strata: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`strata: ${(err as Error).message}\n`);
    process.exitCode = ExitCode.Failure;
  }
}
