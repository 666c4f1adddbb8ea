// Sharing the cache through a registry (STRATA_CACHE_REPO=host:port/name), the
// way `docker buildx --cache-to/--cache-from type=registry` does: every entry
// a build commits is pushed as <repo>:<fingerprint> (labels, and so the stored
// result, travel with it), and a fingerprint missing here is pulled from there
// before the task runs. Docker moves only the layers the other side lacks.

import type Dockerode from 'dockerode';
import { StrataError } from '../protocol/frames';
import { dockerMessage, followProgress } from '../docker/client';
import { checkImageTags } from '../docker/image-config';
import { blobTagsOf } from './blob-store';
import { CACHE_REPO } from './entries';

// Docker wants an X-Registry-Auth header on every push; an empty one pushes
// with the credentials `docker login` stored, or none.
const ANONYMOUS = { authconfig: {} };

export class RemoteCache {
  constructor(
    private readonly docker: Dockerode,
    readonly repo: string,
  ) {}

  /** The remote cache STRATA_CACHE_REPO names, if any; `bad_config` when it is no repository name. */
  static fromEnvironment(docker: Dockerode): RemoteCache | undefined {
    const repo = process.env.STRATA_CACHE_REPO;
    if (!repo) return undefined;
    if (repo.includes('@') || repo.slice(repo.lastIndexOf('/') + 1).includes(':')) {
      throw new StrataError('bad_config', `STRATA_CACHE_REPO=${repo} must be a repository without a tag, like localhost:5000/strata-cache`);
    }
    checkImageTags('(STRATA_CACHE_REPO)', [repo]);
    return new RemoteCache(docker, repo);
  }

  private ref(tag: string): string {
    return `${this.repo}:${tag}`;
  }

  /**
   * Pulls the entry for `fingerprint` and tags it as a local entry. False
   * when the registry does not have it, or cannot be reached: either way the
   * task runs here.
   */
  async fetch(fingerprint: string): Promise<boolean> {
    if (!(await this.pullAs(fingerprint))) return false;
    // An entry whose large values did not come along is no entry here.
    const labels = (await this.docker.getImage(`${CACHE_REPO}:${fingerprint}`).inspect()).Config?.Labels ?? {};
    for (const blob of blobTagsOf(labels)) {
      if (!(await this.pullAs(blob))) {
        await this.docker.getImage(`${CACHE_REPO}:${fingerprint}`).remove().catch(() => undefined);
        return false;
      }
    }
    return true;
  }

  /** Pulls <repo>:<tag> and names it <CACHE_REPO>:<tag>; false when the registry cannot give it. */
  private async pullAs(tag: string): Promise<boolean> {
    try {
      await followProgress(this.docker, await this.docker.pull(this.ref(tag)));
    } catch {
      return false;
    }
    await this.docker.getImage(this.ref(tag)).tag({ repo: CACHE_REPO, tag });
    await this.docker.getImage(this.ref(tag)).remove().catch(() => undefined);
    return true;
  }

  /** Pushes an entry; rejects with a sentence saying why it could not. */
  async push(imageId: string, fingerprint: string): Promise<void> {
    // Its large values first, so no one pulls an entry whose values are not there yet.
    const labels = (await this.docker.getImage(imageId).inspect()).Config?.Labels ?? {};
    for (const blob of blobTagsOf(labels)) await this.pushAs(`${CACHE_REPO}:${blob}`, blob, `a large value of cache entry ${fingerprint.slice(0, 12)}`);
    await this.pushAs(imageId, fingerprint, `cache entry ${fingerprint.slice(0, 12)}`);
  }

  private async pushAs(image: string, tag: string, what: string): Promise<void> {
    const ref = this.ref(tag);
    await this.docker.getImage(image).tag({ repo: this.repo, tag });
    try {
      await followProgress(this.docker, await this.docker.getImage(ref).push(ANONYMOUS));
    } catch (err) {
      throw new Error(`could not push ${what} to ${this.repo}: ${dockerMessage(err)}`);
    } finally {
      await this.docker.getImage(ref).remove().catch(() => undefined);
    }
  }
}

/** Pushes a final image's tags (strata_push); rejects naming the tag that failed. */
export async function pushTags(docker: Dockerode, tags: string[]): Promise<void> {
  for (const tag of tags) {
    try {
      await followProgress(docker, await docker.getImage(tag).push(ANONYMOUS));
    } catch (err) {
      throw new StrataError('docker_error', `could not push ${tag}: ${dockerMessage(err)}. Is the registry up, and are you logged in to it?`);
    }
  }
}
