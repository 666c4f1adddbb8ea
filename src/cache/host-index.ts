// A host's cache entries, read from Docker once when the host opens, so that a
// lookup during the build costs no Docker call. An entry made after that (by
// this build, or by another build running beside it) is found by asking Docker
// for its one tag, which a miss can afford: a task is about to run anyway.

import type Dockerode from 'dockerode';
import { CACHE_REPO, Hit, hitFromLabels, LABEL, lookupEntry } from './entries';

interface Known {
  imageId: string;
  labels: Record<string, string>;
}

export class HostIndex {
  private constructor(
    private readonly docker: Dockerode,
    private readonly known: Map<string, Known>,
  ) {}

  static async load(docker: Dockerode, host: string): Promise<HostIndex> {
    const images = await docker.listImages({ filters: { reference: [`${CACHE_REPO}:*`], label: [`${LABEL.host}=${host}`] } });
    const known = new Map<string, Known>();
    for (const image of images) {
      for (const tag of image.RepoTags ?? []) {
        if (tag.startsWith(`${CACHE_REPO}:`)) known.set(tag.slice(CACHE_REPO.length + 1), { imageId: image.Id, labels: image.Labels ?? {} });
      }
    }
    return new HostIndex(docker, known);
  }

  get size(): number {
    return this.known.size;
  }

  async lookup(fingerprint: string, parent: string): Promise<Hit | undefined> {
    const known = this.known.get(fingerprint);
    if (known) return hitFromLabels(known.imageId, known.labels, fingerprint, parent);
    return lookupEntry(this.docker, fingerprint, parent);
  }
}
