// Pulling from and pushing to a registry, and telling "it has no such image"
// apart from "it could not be asked".

import type Dockerode from 'dockerode';
import { StrataError } from '../protocol/frames';
import { dockerMessage, followProgress, isNotFound } from './client';

// Docker wants an X-Registry-Auth header on every push; an empty one pushes
// with the credentials `docker login` stored, or none.
const ANONYMOUS = { authconfig: {} };

/** Pushes `ref` (repository:tag); rejects with Docker's words. */
export async function pushImage(docker: Dockerode, ref: string): Promise<void> {
  await followProgress(docker, await docker.getImage(ref).push(ANONYMOUS));
}

/**
 * Pulls `ref`: true once it is here, false when the registry answers that it
 * has no such image. Any other failure (the registry is down, refuses our
 * credentials) rejects with the registry's words.
 */
export async function pullIfPresent(docker: Dockerode, ref: string): Promise<boolean> {
  try {
    await followProgress(docker, await docker.pull(ref));
    return true;
  } catch (err) {
    if (isNotFound(err) || /manifest unknown|not found/i.test(dockerMessage(err))) return false;
    throw err;
  }
}

/** Pushes a final image's tags (strata_push); rejects naming the tag that failed. */
export async function pushTags(docker: Dockerode, tags: string[]): Promise<void> {
  for (const tag of tags) {
    try {
      await pushImage(docker, tag);
    } catch (err) {
      throw new StrataError('docker_error', `could not push ${tag}: ${dockerMessage(err)}. Is the registry up, and are you logged in to it?`);
    }
  }
}
