// Build containers: where a task that missed the cache runs. Each one is
// labelled with the engine and the build that own it, so that whatever ends a
// build (success, failure, a closed connection, a killed engine) the
// containers can be found and removed.

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type Dockerode from 'dockerode';
import { dockerCall } from './client';

export const BUILD_LABEL = 'strata.build';
export const ENGINE_LABEL = 'strata.engine';

/** Identifies this engine process; a container whose engine is gone is an orphan. */
export const ENGINE_ID = `${hostname()}:${process.pid}`;

export interface BuildContainer {
  id: string;
  name: string;
  /** The image the container was created from. */
  imageId: string;
}

/** A container-name-safe (and hostname-safe) form of an inventory host name. */
export function safeName(host: string): string {
  const cleaned = host.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '');
  return (cleaned || 'host').slice(0, 40);
}

/**
 * Creates and starts a container from `imageId` that stays up doing nothing
 * (a shell waiting on an open stdin, which every image that can run Ansible
 * modules has), so Ansible can exec tasks into it.
 */
export async function startBuildContainer(
  docker: Dockerode,
  opts: { imageId: string; host: string; build: string },
): Promise<BuildContainer> {
  const name = `strata-build-${safeName(opts.host)}-${randomBytes(4).toString('hex')}`;
  const container = await dockerCall(`creating build container ${name}`, () =>
    docker.createContainer({
      name,
      Image: opts.imageId,
      Entrypoint: [],
      Cmd: ['/bin/sh'],
      OpenStdin: true,
      Hostname: safeName(opts.host),
      Labels: { [BUILD_LABEL]: opts.build, [ENGINE_LABEL]: ENGINE_ID },
    }),
  );
  try {
    await dockerCall(`starting build container ${name}`, () => container.start());
  } catch (err) {
    await removeContainer(docker, container.id);
    throw err;
  }
  return { id: container.id, name, imageId: opts.imageId };
}

/** Removes a container whatever its state; one that is already gone is fine. */
export async function removeContainer(docker: Dockerode, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: true });
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    // 404: already gone; 409: removal already in progress.
    if (status !== 404 && status !== 409) throw err;
  }
}

async function removeLabelled(docker: Dockerode, label: string): Promise<number> {
  const found = await docker.listContainers({ all: true, filters: { label: [label] } });
  await Promise.all(found.map((c) => removeContainer(docker, c.Id)));
  return found.length;
}

/** Removes every container of one build. */
export function removeBuildContainers(docker: Dockerode, build: string): Promise<number> {
  return removeLabelled(docker, `${BUILD_LABEL}=${build}`);
}

/** Removes every container this engine process made. */
export function removeEngineContainers(docker: Dockerode): Promise<number> {
  return removeLabelled(docker, `${ENGINE_LABEL}=${ENGINE_ID}`);
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes build containers left by engines on this machine that no longer
 * run (an engine killed with SIGKILL cannot clean up after itself).
 */
export async function removeOrphanContainers(docker: Dockerode): Promise<number> {
  const found = await docker.listContainers({ all: true, filters: { label: [ENGINE_LABEL] } });
  const orphans = found.filter((c) => {
    const [machine, pid] = (c.Labels[ENGINE_LABEL] ?? '').split(':');
    return machine === hostname() && Number(pid) !== process.pid && !processIsAlive(Number(pid));
  });
  await Promise.all(orphans.map((c) => removeContainer(docker, c.Id)));
  return orphans.length;
}
