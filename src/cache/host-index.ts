// A host's cache entries, read from Docker once when the host opens, so that a
// lookup during the build costs no Docker call. Reading them takes a while
// when Docker holds many images, so it happens in the background; until it is
// done, and for an entry made after it (by this build, or by another build
// running beside it), the entry store asks Docker for the one tag instead, and
// what it finds is added here, as is each entry this engine commits.
//
// The index only ever says "this tag names this image": an entry it does not
// know is asked of Docker, so forgetting is always safe. An engine that serves
// build after build keeps each host's index between them, and keeps it true
// by following Docker's image events (image-events.ts): a tag moved, removed
// or deleted is forgotten here; anything it cannot follow empties the index,
// and the next build reads the list again.

import type Dockerode from 'dockerode';
import { CACHE_REPO, fingerprintOfTag, LABEL } from './entries';

export interface KnownEntry {
  imageId: string;
  labels: Record<string, string>;
  /** Read after the list, in the background; until then a lookup asks Docker. */
  layers?: string[];
}

/** What an image event did to the cache's tags, as far as an index can follow it. */
export type EntryChange =
  | { kind: 'tagged'; fingerprint: string; imageId: string }
  | { kind: 'untagged'; imageId: string }
  | { kind: 'unknown' };

export class HostIndex {
  private known: Map<string, KnownEntry> | undefined;
  /** Changes heard before the list was read, applied once it is. */
  private readonly early: EntryChange[] = [];
  /** Bumped by every change followed: what was asked of Docker before one may be stale. */
  private changes = 0;
  /** The last changes followed, newest last: what `remember` checks an answer against. */
  private readonly recent: EntryChange[] = [];
  /**
   * The index cannot follow Docker any more: its list could not be read, or
   * an event could not be followed. Its build goes on asking Docker; a later
   * build reads a list of its own.
   */
  private outdated = false;
  /** Settles when the entries have been read (or could not be). */
  readonly ready: Promise<void>;

  constructor(docker: Dockerode, host: string, after: Promise<unknown> = Promise.resolve()) {
    // Unread, the index only knows nothing: every lookup then asks Docker.
    this.ready = after.then(() => readEntries(docker, host)).then(
      (known) => {
        this.known = known;
        for (const change of this.early.splice(0)) this.follow(change);
      },
      () => {
        this.outdated = true;
        this.early.length = 0;
      },
    );
  }

  /** Whether a later build may use this index. */
  get keepable(): boolean {
    return !this.outdated;
  }

  get size(): number {
    return this.known?.size ?? 0;
  }

  /** The entry tagged for `fingerprint`, once its layers have been read. */
  lookup(fingerprint: string): Required<KnownEntry> | undefined {
    const known = this.known?.get(fingerprint);
    return known?.layers ? (known as Required<KnownEntry>) : undefined;
  }

  /**
   * What Docker answered for `fingerprint` (or what this engine's own commit
   * tagged), unless a change heard since `asked` (the `version` taken before
   * asking) may contradict it: the answer may predate that change. The tag
   * event of the very entry remembered does not.
   */
  remember(fingerprint: string, entry: Required<KnownEntry>, asked: number): void {
    if (this.known && !this.heardOtherwise(fingerprint, entry.imageId, asked)) this.known.set(fingerprint, entry);
  }

  private heardOtherwise(fingerprint: string, imageId: string, asked: number): boolean {
    const heard = this.changes - asked;
    if (heard > this.recent.length) return true;
    return this.recent.slice(this.recent.length - heard).some(
      (change) =>
        change.kind === 'unknown' ||
        (change.kind === 'tagged' && change.fingerprint === fingerprint && change.imageId !== imageId) ||
        (change.kind === 'untagged' && change.imageId === imageId),
    );
  }

  /** The number `remember` compares with, taken before asking Docker. */
  get version(): number {
    return this.changes;
  }

  /** Follows one change to the cache's tags, heard from Docker's events. */
  follow(change: EntryChange): void {
    this.changes++;
    this.recent.push(change);
    if (this.recent.length > RECENT_CHANGES) this.recent.shift();
    if (!this.known) {
      if (!this.outdated) this.early.push(change);
      return;
    }
    if (change.kind === 'unknown') {
      this.known.clear();
      this.outdated = true;
    } else if (change.kind === 'tagged') {
      if (this.known.get(change.fingerprint)?.imageId !== change.imageId) this.known.delete(change.fingerprint);
    } else {
      for (const [fingerprint, entry] of this.known) if (entry.imageId === change.imageId) this.known.delete(fingerprint);
    }
  }
}

/** Enough for the changes heard while Docker answers one request; an answer older than that is not remembered. */
const RECENT_CHANGES = 64;

async function readEntries(docker: Dockerode, host: string): Promise<Map<string, KnownEntry>> {
  const images = await docker.listImages({ filters: { reference: [`${CACHE_REPO}:*`], label: [`${LABEL.host}=${host}`] } });
  const known = new Map<string, KnownEntry>();
  for (const image of images) {
    for (const tag of image.RepoTags ?? []) {
      const fingerprint = fingerprintOfTag(tag);
      if (fingerprint) known.set(fingerprint, { imageId: image.Id, labels: image.Labels ?? {}, layers: layersOfImage.get(image.Id) });
    }
  }
  void readLayers(docker, [...known.values()].filter((entry) => !entry.layers));
  return known;
}

/**
 * The layers of every image this engine process has read, by image ID. An
 * image ID is the digest of its config, layers included, so what is kept
 * here is never stale: a per-user engine reads each entry's layers once, not
 * once per build.
 */
const layersOfImage = new Map<string, string[]>();
const KEPT_IMAGES = 100_000;

/** Each entry's layers, a few inspections at a time, so lookups need not ask. */
async function readLayers(docker: Dockerode, entries: KnownEntry[]): Promise<void> {
  const pending = [...entries];
  const worker = async () => {
    for (let entry = pending.shift(); entry; entry = pending.shift()) {
      // An entry removed meanwhile stays unread: a lookup asks Docker, and finds it gone.
      const info = await docker.getImage(entry.imageId).inspect().catch(() => undefined);
      if (!info) continue;
      entry.layers = info.RootFS?.Layers ?? [];
      if (layersOfImage.size >= KEPT_IMAGES) layersOfImage.clear();
      layersOfImage.set(entry.imageId, entry.layers);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
}
