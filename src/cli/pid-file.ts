// An engine's pid file (`strata serve --pid-file`): how `strata stop` finds a
// per-user engine. It names a live engine from before its socket answers
// until it has exited. It holds the engine's process ID and the time the
// process started (as the kernel counts it), so that a process which later
// got the same number is never taken for the engine.

import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { processIsAlive } from '../docker/containers';
import { ExitCode, UserError } from './errors';
import { notPrivate } from './private-path';

interface PidRecord {
  pid: number;
  /** The process's start time, in clock ticks since boot (/proc/PID/stat); absent where there is no /proc. */
  started?: string;
}

function readRecord(path: string): PidRecord | undefined {
  try {
    const [pid, started] = readFileSync(path, 'utf8').trim().split('\n').map((line) => line.trim());
    const number = Number(pid);
    return Number.isInteger(number) && number > 0 ? { pid: number, started: started || undefined } : undefined;
  } catch {
    return undefined;
  }
}

/** The process ID a pid file names, if it names one. */
export function readPid(path: string): number | undefined {
  return readRecord(path)?.pid;
}

/**
 * The fields of /proc/PID/stat after the command name (which may hold spaces
 * and parentheses, so it ends at the last ')'): [0] is the state, [19] the
 * start time in clock ticks since boot. Undefined without /proc, or once the
 * process is gone.
 */
export function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function procStat(pid: number | 'self'): string[] | undefined {
  try {
    return statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

const processStart = (pid: number | 'self') => procStat(pid)?.[19];

/** Whether the process has ended: gone, or a zombie its parent has not yet reaped. */
export function hasEnded(pid: number): boolean {
  return !processIsAlive(pid) || procStat(pid)?.[0] === 'Z';
}

/** Writes this process's ID and start time, unless the file names another engine that still runs. */
export function claimPidFile(path: string): void {
  const holder = readPid(path);
  if (holder !== undefined && holder !== process.pid && processIsAlive(holder)) {
    throw new UserError(`${path} names a running engine (process ${holder}): stop it first (\`strata stop\`), or choose another --pid-file`, ExitCode.Usage);
  }
  writeFileSync(path, `${process.pid}\n${processStart('self') ?? ''}\n`, { mode: 0o600 });
}

/** Removes the pid file if it still names this process. */
export function releasePidFile(path: string): void {
  if (readPid(path) === process.pid) rmSync(path, { force: true });
}

/** What a pid file proves: the engine to signal, or why nothing is (and whether the file is stale). */
export type PidFileVerdict = { engine: number } | { skip: string; stale: boolean };

/**
 * Whether the pid file at `path` names this user's engine, which wrote it:
 * the file is this user's and closed to others, and the process it names
 * runs as this user, started when the file says, and is `strata serve` with
 * this very --pid-file. Stale (to be removed) when its process is gone or
 * is another one.
 */
export function engineOfPidFile(path: string): PidFileVerdict {
  const unsafe = notPrivate(path);
  if (unsafe) return { skip: unsafe, stale: false };
  const record = readRecord(path);
  if (!record) return { skip: 'it names no process', stale: true };
  const { pid } = record;
  if (hasEnded(pid)) return { skip: `process ${pid} has exited`, stale: true };
  let why: string | undefined;
  try {
    const started = processStart(pid);
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const pidFileArg = argv.indexOf('--pid-file');
    if (statSync(`/proc/${pid}`).uid !== process.getuid?.()) why = 'it runs as another user';
    else if (started === undefined || started !== record.started) why = 'it started at another time than the file says';
    else if (!argv.includes('serve') || pidFileArg < 0 || resolve(argv[pidFileArg + 1] ?? '') !== resolve(path)) why = 'its command line is not `strata serve --pid-file` with this file';
  } catch (err) {
    return { skip: `cannot tell whether process ${pid} is a strata engine (${(err as Error).message}); stop it by hand if it is one`, stale: false };
  }
  if (why) return { skip: `process ${pid} is not the strata engine that wrote it: ${why}`, stale: true };
  return { engine: pid };
}
