// `strata stop`: ends this user's per-user engines (the ones builds start and
// share, python_shim/strata_ansible/user_engine.py), the way `gradle --stop`
// ends its daemons. Each removes its builds' containers as it exits. Only a
// process proven to be this user's engine is signalled (pid-file.ts), from a
// directory that passes the plugin's rule (private-path.ts).

import { existsSync, readdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UserError } from './errors';
import { engineOfPidFile, hasEnded } from './pid-file';
import { notPrivate } from './private-path';

/** The directory user_engine.py keeps the engines' sockets and pid files in (its runtime_dir()). */
export function userEngineDir(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && existsSync(runtime)) return join(runtime, 'strata');
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'strata', 'run');
}

/** Signals the engine and waits (up to a minute) for it to end: it first removes the containers of any build still running on it. */
async function stopEngine(pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; !hasEnded(pid) && waited < 60_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
}

export async function stopCommand(): Promise<void> {
  const dir = userEngineDir();
  if (!existsSync(dir)) return void process.stdout.write('no strata engine was running\n');
  const unsafe = notPrivate(dir);
  if (unsafe) throw new UserError(`${unsafe}; nothing was stopped`);
  let stopped = 0;
  for (const file of readdirSync(dir).filter((f) => /^engine-[0-9a-f]+\.pid$/.test(f))) {
    const verdict = engineOfPidFile(join(dir, file));
    if ('engine' in verdict) {
      await stopEngine(verdict.engine);
      stopped += 1;
      continue;
    }
    if (verdict.stale) rmSync(join(dir, file), { force: true });
    process.stdout.write(`skipped ${file}: ${verdict.skip}${verdict.stale ? '; removed the file' : ''}\n`);
  }
  process.stdout.write(stopped ? `stopped ${stopped} engine(s)\n` : 'no strata engine was running\n');
}
