// A host's cache entries, read from Docker once when the host opens, so that a
// lookup during the build costs no Docker call. Reading them takes a while
// when Docker holds many images, so it happens in the background; until it is
// done, and for an entry made after it (by this build, or by another build
// running beside it), a lookup asks Docker for the one tag instead.

import type Dockerode from 'dockerode';
import { CACHE_REPO, fingerprintOfTag, Hit, hitFromImage, LABEL, lookupEntry } from './entries';

interface Known {
  imageId: string;
  labels: Record<string, string>;
  /** Read after the list, in the background; until then a lookup asks Docker. */
  layers?: string[];
}

export class HostIndex {
  private known: Map<string, Known> | undefined;
  /** Settles when the entries have been read (or could not be). */
  readonly ready: Promise<void>;

  constructor(
    private readonly docker: Dockerode,
    host: string,
  ) {
    this.ready = readEntries(docker, host).then(
      (known) => {
        this.known = known;
      },
      () => undefined,
    );
  }

  get size(): number {
    return this.known?.size ?? 0;
  }

  async lookup(fingerprint: string, parent: string): Promise<Hit | undefined> {
    const known = this.known?.get(fingerprint);
    if (known?.layers) return hitFromImage(this.docker, known.imageId, known.labels, known.layers, fingerprint, parent);
    return lookupEntry(this.docker, fingerprint, parent);
  }
}

async function readEntries(docker: Dockerode, host: string): Promise<Map<string, Known>> {
  const images = await docker.listImages({ filters: { reference: [`${CACHE_REPO}:*`], label: [`${LABEL.host}=${host}`] } });
  const known = new Map<string, Known>();
  for (const image of images) {
    for (const tag of image.RepoTags ?? []) {
      const fingerprint = fingerprintOfTag(tag);
      if (fingerprint) known.set(fingerprint, { imageId: image.Id, labels: image.Labels ?? {} });
    }
  }
  void readLayers(docker, [...known.values()]);
  return known;
}

/** Each entry's layers, a few inspections at a time, so lookups need not ask. */
async function readLayers(docker: Dockerode, entries: Known[]): Promise<void> {
  const pending = [...entries];
  const worker = async () => {
    for (let entry = pending.shift(); entry; entry = pending.shift()) {
      const info = await docker.getImage(entry.imageId).inspect().catch(() => undefined);
      if (info) entry.layers = info.RootFS?.Layers ?? [];
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
}
