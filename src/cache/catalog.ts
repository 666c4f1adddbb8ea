// Reading the whole cache at once, for the commands that show and steer it
// (`strata ls`, `explain`, `prune`). Builds never need this: they look up one
// fingerprint at a time.

import type Dockerode from 'dockerode';
import { unlessGone } from '../docker/client';
import { CACHE_REPO, fingerprintOfTag, LABEL } from './entries';
import { storedValue } from './blob-store';
import { openStored, SealingKey, unpackValue } from './stored-value';

export interface CatalogEntry {
  fingerprint: string;
  parent: string;
  host: string;
  position: number;
  task: string;
  build: string;
  /** Seconds the task took when it ran. */
  seconds: number;
  imageId: string;
  tag: string;
  created: Date;
  /** When a build last committed or hit it. */
  lastUsed: Date;
  /** Bytes of the image, all layers. */
  size: number;
  /** Bytes the entry's own layer adds to its parent (0 when it added none). */
  layerBytes: number;
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function eachLimited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const at = next++;
      results[at] = await work(items[at]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** An image's size; 0 when it was removed since it was listed. */
async function sizeOf(docker: Dockerode, imageId: string): Promise<number> {
  return (await unlessGone(docker.getImage(imageId).inspect()))?.Size ?? 0;
}

/** Every cache entry Docker holds (optionally of one host), newest first. */
export async function listEntries(docker: Dockerode, host?: string): Promise<CatalogEntry[]> {
  const labelFilter = host ? [`${LABEL.host}=${host}`] : [LABEL.fingerprint];
  const images = await docker.listImages({ filters: { reference: [`${CACHE_REPO}:*`], label: labelFilter } });
  const rows = images.flatMap((image) =>
    (image.RepoTags ?? [])
      .map((tag) => ({ image, tag, labels: image.Labels ?? {} }))
      .filter(({ tag, labels }) => labels[LABEL.fingerprint] === fingerprintOfTag(tag)),
  );
  const lastTagTimes = await eachLimited(rows, 16, async ({ image }) => {
    const info = (await docker.getImage(image.Id).inspect()) as Dockerode.ImageInspectInfo & { Metadata?: { LastTagTime?: string } };
    const time = info.Metadata?.LastTagTime;
    return time && !time.startsWith('0001') ? new Date(time) : new Date(image.Created * 1000);
  });
  const sizeByFingerprint = new Map(rows.map(({ image, labels }) => [labels[LABEL.fingerprint], image.Size]));
  const entries: CatalogEntry[] = rows.map(({ image, tag, labels }, i) => ({
    fingerprint: labels[LABEL.fingerprint],
    parent: labels[LABEL.parent],
    host: labels[LABEL.host],
    position: Number(labels[LABEL.position]),
    task: labels[LABEL.task],
    build: labels[LABEL.build] ?? '',
    seconds: Number(labels[LABEL.seconds] ?? 0),
    imageId: image.Id,
    tag,
    created: new Date(image.Created * 1000),
    lastUsed: lastTagTimes[i],
    size: image.Size,
    layerBytes: 0,
  }));
  // A first link's parent is the base image, which is no entry.
  const baseSizes = new Map<string, number>();
  for (const entry of entries) {
    if (entry.position === 0 && !baseSizes.has(entry.parent)) baseSizes.set(entry.parent, await sizeOf(docker, entry.parent));
  }
  for (const entry of entries) {
    const parentSize = sizeByFingerprint.get(entry.parent) ?? baseSizes.get(entry.parent);
    entry.layerBytes = parentSize === undefined ? 0 : Math.max(0, entry.size - parentSize);
  }
  return entries.sort((a, b) => b.lastUsed.getTime() - a.lastUsed.getTime() || a.position - b.position);
}

/** The fingerprint inputs stored with an entry, or undefined when they cannot be read here. */
export async function entryInputs(docker: Dockerode, entry: CatalogEntry, sealing: SealingKey): Promise<Record<string, unknown> | undefined> {
  const info = await docker.getImage(entry.imageId).inspect();
  const inputs = unpackValue(openStored(await storedValue(docker, CACHE_REPO, info.Config?.Labels?.[LABEL.inputs]), sealing));
  return typeof inputs === 'object' && inputs !== null ? (inputs as Record<string, unknown>) : undefined;
}
