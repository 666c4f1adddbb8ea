// `strata stop`: ends this user's per-user engines (the ones builds start and
// share, python_shim/strata_ansible/user_engine.py), the way `gradle --stop`
// ends its daemons. Each removes its builds' containers as it exits.

import { existsSync, readdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { processIsAlive } from '../docker/containers';
import { readPid } from './pid-file';

/** The directory user_engine.py keeps the engines' sockets and pid files in (its runtime_dir()). */
export function userEngineDir(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && existsSync(runtime)) return join(runtime, 'strata');
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'strata', 'run');
}

async function stopOne(pidFile: string): Promise<boolean> {
  const pid = readPid(pidFile);
  if (pid === undefined || !processIsAlive(pid)) {
    rmSync(pidFile, { force: true });
    return false;
  }
  process.kill(pid, 'SIGTERM');
  // It first removes the containers of any build still running on it.
  for (let waited = 0; processIsAlive(pid) && waited < 60_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
  return true;
}

export async function stopCommand(): Promise<void> {
  const dir = userEngineDir();
  const pidFiles = existsSync(dir) ? readdirSync(dir).filter((f) => /^engine-[0-9a-f]+\.pid$/.test(f)) : [];
  let stopped = 0;
  for (const file of pidFiles) if (await stopOne(join(dir, file))) stopped += 1;
  process.stdout.write(stopped ? `stopped ${stopped} engine(s)\n` : 'no strata engine was running\n');
}
