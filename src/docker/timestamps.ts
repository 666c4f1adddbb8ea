// SOURCE_DATE_EPOCH (reproducible-builds.org): every file a task created or
// changed gets at most that time, as BuildKit's rewrite-timestamp does, so
// the layer `docker commit` writes is the same bytes on any daemon at any
// time. The clamp is done on the build container's overlay2 upper directory,
// which holds exactly what the commit will pack: the files themselves and the
// markers of deleted files, whose times no command inside the container can
// reach. That directory lives on the Docker host, so the engine must run
// there, as the user Docker's storage belongs to (root); open_host checks it
// before any task runs.

import { constants } from 'node:fs';
import { access, lstat, lutimes, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type Dockerode from 'dockerode';
import { StrataError } from '../protocol/frames';
import { dockerCall } from './client';

/** The greatest SOURCE_DATE_EPOCH accepted: 9999-12-31, past which no image config time can be written. */
const LAST_EPOCH = 253402300799;

/**
 * A host's SOURCE_DATE_EPOCH as the plugin sent it, checked: a whole number
 * of seconds since 1970, as a number or its digits.
 */
export function parseSourceDateEpoch(host: string, given: { value: unknown; from: string } | null | undefined): number | undefined {
  if (!given) return undefined;
  const { value, from } = given;
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (!/^\d+$/.test(text) || Number(text) > LAST_EPOCH) {
    throw new StrataError(
      'bad_config',
      `host ${host}: ${from} must be a whole number of seconds since 1970 (as \`date +%s\` or \`git log -1 --format=%ct\` prints it), ` +
        `not ${JSON.stringify(value)}. Fix it, or unset it to build without reproducible timestamps.`,
    );
  }
  return Number(text);
}

/**
 * Refuses, before any task runs, a daemon whose layers this engine cannot
 * clamp: one that does not use overlay2, or whose storage this engine does
 * not see (another machine's, through DOCKER_HOST) or may not write (it runs
 * as another user). The base image's own layer directory stands for where
 * the build containers' will be.
 */
export async function checkClampable(docker: Dockerode, host: string, from: string, baseId: string): Promise<void> {
  const base = await dockerCall('reading where Docker stores the base image', () => docker.getImage(baseId).inspect());
  const where = (base.GraphDriver?.Data as { UpperDir?: string } | undefined)?.UpperDir;
  const why =
    base.GraphDriver?.Name !== 'overlay2' || !where
      ? `Docker stores layers with ${base.GraphDriver?.Name ?? 'an unknown driver'}, and strata clamps file times only with overlay2`
      : await access(where, constants.W_OK).then(
          () => undefined,
          (err: NodeJS.ErrnoException) => `this engine cannot write Docker's storage at ${dirname(dirname(where))} (${err.code}${err.code === 'ENOENT' ? ': is the daemon on another machine?' : ''})`,
        );
  if (why) {
    throw new StrataError(
      'bad_config',
      `host ${host}: ${from} asks for reproducible layers, but ${why}. Run strata's engine on the Docker host as the user ` +
        `Docker's storage belongs to (root), with the overlay2 storage driver, or unset ${from}.`,
    );
  }
}

/** Sets every file, directory, link and deletion marker in `dir` newer than `epoch` to `epoch`. */
async function clampTree(dir: string, epoch: number): Promise<number> {
  let clamped = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) clamped += await clampTree(path, epoch);
    // After the children: clamping them changes no time of the directory's.
    if ((await lstat(path)).mtimeMs > epoch * 1000) {
      await lutimes(path, epoch, epoch);
      clamped += 1;
    }
  }
  return clamped;
}

/** Clamps what the task changed in a build container, just before its commit; returns how many entries it clamped. */
export async function clampChangedFiles(docker: Dockerode, containerId: string, epoch: number): Promise<number> {
  const info = await dockerCall('reading the build container\'s storage', () => docker.getContainer(containerId).inspect());
  const data = info.GraphDriver?.Data as { UpperDir?: string } | undefined;
  const upper = info.GraphDriver?.Name === 'overlay2' ? data?.UpperDir : undefined;
  if (!upper) {
    throw new StrataError('docker_error', `build container ${info.Name} has no overlay2 upper directory to clamp file times in (driver ${info.GraphDriver?.Name})`);
  }
  try {
    return await clampTree(upper, epoch);
  } catch (err) {
    throw new StrataError('docker_error', `could not clamp file times in build container ${info.Name} (${upper}): ${(err as Error).message}`);
  }
}
