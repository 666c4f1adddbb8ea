// An engine's pid file (`strata serve --pid-file`): how `strata stop` finds a
// per-user engine. It names a live engine from before its socket answers
// until it has exited.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { processIsAlive } from '../docker/containers';
import { ExitCode, UserError } from './errors';

/** The process ID a pid file names, if it names one. */
export function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Writes this process's ID, unless the file names another engine that still runs. */
export function claimPidFile(path: string): void {
  const holder = readPid(path);
  if (holder !== undefined && holder !== process.pid && processIsAlive(holder)) {
    throw new UserError(`${path} names a running engine (process ${holder}): stop it first (\`strata stop\`), or choose another --pid-file`, ExitCode.Usage);
  }
  writeFileSync(path, `${process.pid}\n`, { mode: 0o600 });
}

/** Removes the pid file if it still names this process. */
export function releasePidFile(path: string): void {
  if (readPid(path) === process.pid) rmSync(path, { force: true });
}
