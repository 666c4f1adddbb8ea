// `strata serve`: an engine in the foreground. For a person it prints the
// exports to paste into the shell that runs ansible-playbook and then logs
// every request; for the plugin (--private) it prints one JSON line with its
// address and exits once that one build has ended.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rmdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import { connectDocker } from '../docker/client';
import { removeEngineContainers, removeOrphanContainers } from '../docker/containers';
import { createLogger, LogFormat, LogLevel } from '../engine/log';
import { parseListen, RunningEngine, startEngine } from '../engine/server';
import { readSettings } from '../engine/settings';
import { UserError, ExitCode } from './errors';
import { claimPidFile, releasePidFile } from './pid-file';

interface ServeOptions {
  listen: string;
  token?: string;
  tokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  insecurePlaintext?: boolean;
  logLevel: LogLevel;
  logFormat: LogFormat;
  private?: boolean;
  idleExit?: string;
  pidFile?: string;
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

export async function serveCommand(opts: ServeOptions): Promise<void> {
  const log = createLogger(opts.logLevel, opts.logFormat);
  const token = chooseToken(opts);
  if (tokenBits(token) < MIN_TOKEN_BITS) {
    log.warn(`the token is short (about ${Math.floor(tokenBits(token))} bits, under ${MIN_TOKEN_BITS}): anyone who guesses it can build here; omit it for a random one`);
  }
  const tls = readTls(opts);
  checkExposure(opts.listen, tls !== undefined, Boolean(opts.insecurePlaintext));
  const settings = readSettings();
  const docker = connectDocker();
  const orphans = await removeOrphanContainers(docker).catch((err: Error) => {
    log.warn('could not look for build containers a dead engine left', { error: err.message });
    return 0;
  });
  if (orphans) log.info('removed build containers left by a dead engine', { containers: orphans });

  let engine: RunningEngine | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (exitCode: number) => {
    stopping ??= (async () => {
      await engine?.close();
      await removeEngineContainers(docker).catch((err: Error) => log.warn('could not remove every build container at exit', { error: err.message }));
      if (opts.private) await removeSocketDir(opts.listen);
      if (opts.pidFile) releasePidFile(opts.pidFile);
      process.exit(exitCode);
    })();
    return stopping;
  };
  for (const signal of Object.keys(SIGNAL_EXIT)) process.on(signal, () => void stop(SIGNAL_EXIT[signal]));
  // A failure nobody awaited is a bug to log, not a reason to drop every build this engine serves.
  process.on('unhandledRejection', (err) => log.error('unhandled failure (a bug in strata)', { error: (err as Error)?.stack ?? String(err) }));

  const idle = idleTimer(opts.idleExit, () => {
    log.info('no build for the idle time: exiting', { idle_seconds: Number(opts.idleExit) });
    void stop(0);
  });
  // Written before the socket answers, so whoever finds the engine listening
  // (a build, `strata stop`) also finds its process ID.
  if (opts.pidFile) claimPidFile(opts.pidFile);
  try {
    engine = await startEngine({
      listen: opts.listen,
      token,
      tls,
      docker,
      settings,
      log,
      onBuildStarted: idle.busy,
      // A private engine serves one build; a worker's connection ending ends nothing.
      onBuildEnded: (wasBuild) => (opts.private && wasBuild ? void stop(0) : idle.free()),
      keepIndexes: !opts.private,
    });
  } catch (err) {
    if (opts.pidFile) releasePidFile(opts.pidFile);
    throw new UserError(`cannot listen on ${opts.listen}: ${(err as Error).message}`, ExitCode.Usage);
  }

  idle.free();
  if (opts.private) {
    process.stdout.write(JSON.stringify({ engine: engine.address }) + '\n');
    watchParent(() => void stop(0));
  } else {
    process.stdout.write(`export STRATA_ENGINE=${engine.address}\nexport STRATA_TOKEN=${token}\n`);
    log.info('engine listening', { address: engine.address });
  }
}

/**
 * With --idle-exit, the engine ends after that many seconds without a build
 * running: `busy` when one starts, `free` when one ends (or the engine is up).
 */
function idleTimer(seconds: string | undefined, onIdle: () => void): { busy: () => void; free: () => void } {
  if (seconds === undefined) return { busy: () => undefined, free: () => undefined };
  const ms = Number(seconds) * 1000;
  if (!Number.isFinite(ms) || ms <= 0) throw new UserError(`--idle-exit ${seconds} is not a number of seconds above 0`, ExitCode.Usage);
  let running = 0;
  let timer: NodeJS.Timeout | undefined;
  return {
    busy: () => {
      running += 1;
      clearTimeout(timer);
    },
    free: () => {
      running = Math.max(0, running - 1);
      clearTimeout(timer);
      if (running === 0) timer = setTimeout(onIdle, ms);
    },
  };
}

const MIN_TOKEN_BITS = 128;

/** The token from --token-file, --token, STRATA_TOKEN, or a new random one; never an empty one. */
function chooseToken(opts: ServeOptions): string {
  let token: string | undefined;
  let from: string;
  if (opts.tokenFile && opts.token !== undefined) {
    throw new UserError('give the token once: --token-file or --token, not both', ExitCode.Usage);
  }
  if (opts.tokenFile) {
    try {
      token = readFileSync(opts.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new UserError(`cannot read --token-file ${opts.tokenFile}: ${(err as Error).message}`, ExitCode.Usage);
    }
    from = `--token-file ${opts.tokenFile}`;
  } else if (opts.token !== undefined) {
    [token, from] = [opts.token.trim(), '--token'];
  } else if (process.env.STRATA_TOKEN !== undefined) {
    [token, from] = [process.env.STRATA_TOKEN.trim(), 'STRATA_TOKEN'];
  } else {
    return randomBytes(24).toString('hex');
  }
  if (!token) throw new UserError(`the token from ${from} is empty, which would let anyone build here: give a real one, or none for a random one`, ExitCode.Usage);
  // It travels in an HTTP header and is pasted into a shell: one word of printable ASCII.
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new UserError(`the token from ${from} holds spaces or characters outside printable ASCII; use letters, digits and punctuation only`, ExitCode.Usage);
  }
  return token;
}

/** A rough upper bound of a token's entropy: its length times the bits its alphabet allows. */
export function tokenBits(token: string): number {
  const perChar = /^[0-9a-f]+$/i.test(token) ? 4 : /^[A-Za-z0-9+/=_-]+$/.test(token) ? 6 : 6.5;
  return token.length * perChar;
}

function readTls(opts: ServeOptions): { cert: Buffer; key: Buffer } | undefined {
  if (!opts.tlsCert && !opts.tlsKey) return undefined;
  if (!opts.tlsCert || !opts.tlsKey) throw new UserError('--tls-cert and --tls-key go together: give both', ExitCode.Usage);
  const read = (option: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new UserError(`cannot read ${option} ${path}: ${(err as Error).message}`, ExitCode.Usage);
    }
  };
  const tls = { cert: read('--tls-cert', opts.tlsCert), key: read('--tls-key', opts.tlsKey) };
  try {
    createSecureContext(tls);
  } catch (err) {
    throw new UserError(
      `--tls-cert ${opts.tlsCert} and --tls-key ${opts.tlsKey} are not a PEM certificate and its private key (${(err as Error).message})`,
      ExitCode.Usage,
    );
  }
  return tls;
}

/**
 * A token holder can build here, with this engine's Docker access: over a
 * network that must not travel in the clear unless the user says so.
 */
function checkExposure(listen: string, tls: boolean, insecure: boolean): void {
  let target;
  try {
    target = parseListen(listen);
  } catch (err) {
    throw new UserError((err as Error).message, ExitCode.Usage);
  }
  if ('path' in target || tls || insecure || isLoopback(target.host)) return;
  throw new UserError(
    `--listen ${listen} is reachable from other machines, and without TLS the token and every frame would cross the network in the clear. ` +
      'Give --tls-cert and --tls-key (clients then use wss:// and STRATA_TLS_CA), listen on 127.0.0.1 or a unix socket, ' +
      'or pass --insecure-plaintext if the network is trusted',
    ExitCode.Usage,
  );
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The plugin makes a directory for its private engine's socket and removes it
 * when the build ends; if the plugin was killed, the engine is the one left
 * to. rmdir removes only an empty directory, so nothing else can go with it.
 */
async function removeSocketDir(listen: string): Promise<void> {
  const target = parseListen(listen);
  if (!('path' in target)) return;
  try {
    await rmdir(dirname(target.path));
  } catch (err) {
    // Gone already (the plugin removed it), or not empty: not ours to remove.
    if (!['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
  }
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
