// A host's cache entries as Docker and the registry cache keep them: what a
// host chain (src/engine/host-chain.ts) looks up, records and shares. Found
// entries are decoded here, large values fetched from their blobs, sealed
// ones opened with the engine's key.

import type Dockerode from 'dockerode';
import { dockerCall, unlessGone } from '../docker/client';
import type { Committed } from '../docker/layers';
import { isBlobRef, labelsWithValues, storedValue } from './blob-store';
import { CACHE_REPO, entryLabels, entryTag, FoundEntry, foundEntry, LABEL, namesLink, NewEntry } from './entries';
import { HostIndex } from './host-index';
import { HostIndexes } from './image-events';
import { Attestation, provenanceStatement, signStatement } from './provenance';
import { keepProvenance, pushProvenance } from './provenance-store';
import { RemoteCache } from './remote';
import { parseStoredText, SealingKey, StoredBytes } from './stored-value';
import { Turns } from './turns';

export interface EntryStoreSettings {
  sealing: SealingKey;
  /** The registry repository shared as a cache, if any. */
  cacheRepo: string | undefined;
}

export class DockerEntryStore {
  private readonly index: HostIndex;
  /** Whether the index came from an earlier build, kept true since by Docker's events. */
  readonly indexKept: boolean;
  private readonly remote: RemoteCache | undefined;
  private readonly sealing: SealingKey;

  constructor(
    private readonly docker: Dockerode,
    host: string,
    settings: EntryStoreSettings,
    indexes: HostIndexes,
  ) {
    ({ index: this.index, kept: this.indexKept } = indexes.indexFor(host));
    this.remote = settings.cacheRepo ? new RemoteCache(docker, settings.cacheRepo, settings.sealing) : undefined;
    this.sealing = settings.sealing;
  }

  /** Settles, with their number, once the host's entries have been read into the index. */
  get indexed(): Promise<number> {
    return this.index.ready.then(() => this.index.size);
  }

  /** The local entry for `fingerprint` after `parent`, if there is one this engine can read. */
  async lookup(fingerprint: string, parent: string): Promise<FoundEntry | undefined> {
    const known = this.index.lookup(fingerprint);
    if (known) return this.decode(known.imageId, known.labels, known.layers, { fingerprint, parent }, 'memory');
    const asked = this.index.version;
    const info = await unlessGone(this.docker.getImage(entryTag(fingerprint)).inspect());
    if (!info) return undefined;
    const entry = { imageId: info.Id, labels: info.Config?.Labels ?? {}, layers: info.RootFS?.Layers ?? [] };
    this.index.remember(fingerprint, entry, asked);
    return this.decode(entry.imageId, entry.labels, entry.layers, { fingerprint, parent }, 'docker');
  }

  known(fingerprint: string, parent: string): FoundEntry | undefined {
    const known = this.index.lookup(fingerprint);
    if (!known || !namesLink(known.labels, { fingerprint, parent })) return undefined;
    const remembered = decodedEntries.get(known.imageId);
    if (remembered) return { ...remembered, layers: known.layers, from: 'memory' };
    // A result kept in a blob is read from Docker: not known without asking.
    const label = known.labels[LABEL.result];
    if (isBlobRef(label)) return undefined;
    const result = parseStoredText(label);
    const found = rememberDecoded(known.imageId, foundEntry(known.imageId, known.labels, known.layers, { fingerprint, parent }, result, this.sealing), result);
    return found && { ...found, from: 'memory' };
  }

  /**
   * The entry from the registry cache: undefined when there is none (or no
   * registry); rejects, with the registry's words, when it could not be asked.
   */
  async fetch(fingerprint: string, parent: string): Promise<FoundEntry | undefined> {
    if (!this.remote || !(await this.remote.fetch(fingerprint))) return undefined;
    return this.lookup(fingerprint, parent);
  }

  /**
   * Tags the entry again. Tagging is also how a hit marks an entry used:
   * Docker keeps the time an image was last tagged, and `strata ls` and
   * `strata prune` read it as "last used". An entry this engine tagged (or
   * committed) less than USE_MARK_PRECISION_MS ago is not tagged again: a
   * warm rebuild then asks Docker nothing, where one request per cached
   * task would cost Docker and the engine more than the rest of the lookup.
   */
  async markUsed(imageId: string, fingerprint: string): Promise<void> {
    if (!recentlyMarked.due(fingerprint)) return;
    await this.docker.getImage(imageId).tag({ repo: CACHE_REPO, tag: fingerprint });
  }

  /** The labels that store `entry`: values Ansible hides sealed, values too big for a label moved to blobs. */
  labels(entry: NewEntry): Promise<Record<string, string>> {
    // The commit these labels are for tags the entry, which marks it used.
    recentlyMarked.due(entry.fingerprint);
    return labelsWithValues(this.docker, CACHE_REPO, entryLabels(entry, this.sealing));
  }

  inTurn<T>(fingerprint: string, work: () => Promise<T>): Promise<T> {
    return commitTurns.take(fingerprint, work);
  }

  async recording(fingerprint: string, commit: () => Promise<Committed>): Promise<Committed> {
    const asked = this.index.version;
    const committed = await commit();
    this.index.remember(fingerprint, { imageId: committed.imageId, labels: committed.labels, layers: committed.layers }, asked);
    return committed;
  }

  /** Pushes a committed entry to the registry cache, if there is one. */
  async share(imageId: string, fingerprint: string): Promise<void> {
    await this.remote?.push(imageId, fingerprint);
  }

  async attest(attestation: Attestation, push: boolean): Promise<string[]> {
    const [image, base] = await Promise.all(
      [attestation.imageId, attestation.base.id].map((id) => dockerCall('reading the image to attest', () => this.docker.getImage(id).inspect())),
    );
    const statement = provenanceStatement({
      ...attestation,
      image: { id: attestation.imageId, tags: attestation.tags, layers: image.RootFS?.Layers ?? [] },
      base: { ...attestation.base, digests: base.RepoDigests ?? [], layers: base.RootFS?.Layers ?? [] },
      finishedOn: new Date(),
    });
    await keepProvenance(this.docker, attestation.host, attestation.imageId, attestation.tags, signStatement(this.sealing, statement));
    return push ? pushProvenance(this.docker, attestation.imageId, attestation.tags) : [];
  }

  private async decode(
    imageId: string,
    labels: Record<string, string>,
    layers: string[],
    at: { fingerprint: string; parent: string },
    from: FoundEntry['from'],
  ): Promise<FoundEntry | undefined> {
    if (!namesLink(labels, at)) return undefined;
    const remembered = decodedEntries.get(imageId);
    if (remembered) return { ...remembered, layers, from };
    const result = await storedValue(this.docker, CACHE_REPO, labels[LABEL.result]);
    const found = rememberDecoded(imageId, foundEntry(imageId, labels, layers, at, result, this.sealing), result);
    return found && { ...found, from };
  }
}

/** `found`, kept in decodedEntries when its result (as stored, before unsealing) is small. */
function rememberDecoded(imageId: string, found: FoundEntry | undefined, storedResult: StoredBytes | undefined): FoundEntry | undefined {
  if (found && (storedResult?.bytes.length ?? 0) <= REMEMBERED_RESULT_BYTES) {
    if (decodedEntries.size >= REMEMBERED_ENTRIES) decodedEntries.clear();
    decodedEntries.set(imageId, found);
  }
  return found;
}

/** Every build's commits in this engine process, one at a time per task (see Turns). */
const commitTurns = new Turns();

/**
 * Entries this engine process has decoded (their labels read, their result
 * unsealed), by image ID, which names the labels exactly: a
 * per-user engine decodes a warm rebuild's entries once, not once per build.
 * Small results only, so the memory this holds stays small.
 */
const decodedEntries = new Map<string, FoundEntry>();
const REMEMBERED_ENTRIES = 10_000;
const REMEMBERED_RESULT_BYTES = 3072;

/** How stale "last used" may be, in `strata ls` and for `strata prune --older-than`. */
export const USE_MARK_PRECISION_MS = 10 * 60 * 1000;

/** The entries this engine process marked used lately, and when; kept across the builds of a per-user engine. */
export class UseMarks {
  private readonly marked = new Map<string, number>();

  /** Whether `fingerprint` is due to be marked again; if so, it counts as marked now. */
  due(fingerprint: string, now = Date.now()): boolean {
    const last = this.marked.get(fingerprint);
    if (last !== undefined && now - last < USE_MARK_PRECISION_MS) return false;
    if (this.marked.size >= 100_000) this.forgetBefore(now - USE_MARK_PRECISION_MS);
    this.marked.set(fingerprint, now);
    return true;
  }

  private forgetBefore(time: number): void {
    for (const [fingerprint, at] of this.marked) if (at < time) this.marked.delete(fingerprint);
  }
}

const recentlyMarked = new UseMarks();
