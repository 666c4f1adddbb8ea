// Resolving a host's `strata_from` to the image ID its chain starts from. The
// ID, never the tag, roots the chain, so a re-pulled tag starts a new one.

import type Dockerode from 'dockerode';
import { StrataError } from '../protocol/frames';
import { dockerMessage, explainDockerError, followProgress, isDockerUnreachable, isNotFound } from './client';

/** What the base image's config said; the final image falls back to it. */
export interface BaseCommand {
  cmd: string[] | null;
  entrypoint: string[] | null;
}

export interface BaseImage extends BaseCommand {
  id: string;
  /** Its layers (diff IDs), which the host's first cache entry must extend. */
  layers: string[];
  ref: string;
}

async function inspectOrUndefined(docker: Dockerode, ref: string): Promise<Dockerode.ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(ref).inspect();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw explainDockerError(err, `looking up base image ${ref}`);
  }
}

async function pull(docker: Dockerode, ref: string): Promise<void> {
  await followProgress(docker, await docker.pull(ref));
}

/**
 * Image `ref`, pulled if Docker does not have it. When neither works, the
 * `base_missing` error `missing` words from Docker's reason.
 */
export async function imageOrPull(docker: Dockerode, ref: string, missing: (why: string) => string): Promise<Dockerode.ImageInspectInfo> {
  const info = await inspectOrUndefined(docker, ref);
  if (info) return info;
  try {
    await pull(docker, ref);
  } catch (err) {
    if (isDockerUnreachable(err)) throw explainDockerError(err, `pulling ${ref}`);
    throw new StrataError('base_missing', missing(dockerMessage(err)));
  }
  const pulled = await inspectOrUndefined(docker, ref);
  if (!pulled) throw new StrataError('base_missing', `image ${ref} was pulled but Docker cannot find it`);
  return pulled;
}

/** The base image for `host`, pulled if Docker does not have it; `base_missing` when neither works. */
export async function resolveBaseImage(docker: Dockerode, host: string, ref: string): Promise<BaseImage> {
  const info = await imageOrPull(
    docker,
    ref,
    (why) =>
      `base image ${ref} (strata_from of host ${host}) is not in Docker and could not be pulled: ${why}. ` +
      'Build or pull it first (`make base-image` builds strata-base:bookworm), or fix strata_from in the inventory.',
  );
  return { id: info.Id, ref, layers: info.RootFS?.Layers ?? [], cmd: info.Config?.Cmd ?? null, entrypoint: normaliseEntrypoint(info.Config?.Entrypoint) };
}

function normaliseEntrypoint(value: string | string[] | undefined | null): string[] | null {
  if (value === undefined || value === null) return null;
  return Array.isArray(value) ? value : [value];
}
