// `strata serve`: an engine in the foreground. For a person it prints the
// exports to paste into the shell that runs ansible-playbook and then logs
// every request; for the plugin (--private) it prints one JSON line with its
// address and exits once that one build has ended.

import { randomBytes } from 'node:crypto';
import { rmdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { connectDocker } from '../docker/client';
import { removeEngineContainers, removeOrphanContainers } from '../docker/containers';
import { createLogger, LogFormat, LogLevel } from '../engine/log';
import { parseListen, RunningEngine, startEngine } from '../engine/server';
import { UserError, ExitCode } from './errors';

interface ServeOptions {
  listen: string;
  token?: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  private?: boolean;
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

export async function serveCommand(opts: ServeOptions): Promise<void> {
  const token = opts.token ?? process.env.STRATA_TOKEN ?? randomBytes(24).toString('hex');
  const log = createLogger(opts.logLevel, opts.logFormat);
  const docker = connectDocker();
  const orphans = await removeOrphanContainers(docker).catch(() => 0);
  if (orphans) log.info('removed build containers left by a dead engine', { containers: orphans });

  let engine: RunningEngine | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (exitCode: number) => {
    stopping ??= (async () => {
      await engine?.close();
      await removeEngineContainers(docker).catch(() => 0);
      if (opts.private) await removeSocketDir(opts.listen);
      process.exit(exitCode);
    })();
    return stopping;
  };
  for (const signal of Object.keys(SIGNAL_EXIT)) process.on(signal, () => void stop(SIGNAL_EXIT[signal]));
  // A failure nobody awaited is a bug to log, not a reason to drop every build this engine serves.
  process.on('unhandledRejection', (err) => log.error('unhandled failure (a bug in strata)', { error: (err as Error)?.stack ?? String(err) }));

  try {
    engine = await startEngine({
      listen: opts.listen,
      token,
      docker,
      log,
      onBuildEnded: opts.private ? () => void stop(0) : undefined,
    });
  } catch (err) {
    throw new UserError(`cannot listen on ${opts.listen}: ${(err as Error).message}`, ExitCode.Usage);
  }

  if (opts.private) {
    process.stdout.write(JSON.stringify({ engine: engine.address }) + '\n');
    watchParent(() => void stop(0));
  } else {
    process.stdout.write(`export STRATA_ENGINE=${engine.address}\nexport STRATA_TOKEN=${token}\n`);
    log.info('engine listening', { address: engine.address });
  }
}

/**
 * The plugin makes a directory for its private engine's socket and removes it
 * when the build ends; if the plugin was killed, the engine is the one left
 * to. rmdir removes only an empty directory, so nothing else can go with it.
 */
async function removeSocketDir(listen: string): Promise<void> {
  const target = parseListen(listen);
  if ('path' in target) await rmdir(dirname(target.path)).catch(() => undefined);
}

/** A private engine outlives no one: when the process that started it is gone, it stops. */
function watchParent(onGone: () => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onGone();
    }
  }, 1000);
  timer.unref();
}
