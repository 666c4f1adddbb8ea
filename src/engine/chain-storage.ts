// What a host chain needs from the places layers and entries are kept. The
// chain's decisions (hit or miss, which container a task runs in, when to
// flatten, whether a hit is proven) are in host-chain.ts; how things are kept
// is behind these two interfaces, the way BuildKit's solver keeps its cache
// logic apart from its key and result storage. The Docker implementations
// are src/cache/entry-store.ts and src/docker/workshop.ts; the unit tests of
// the chain use in-memory ones.

import type { FoundEntry, NewEntry } from '../cache/entries';
import type { Attestation } from '../cache/provenance';
import type { BuildContainer, ContainerStart } from '../docker/containers';
import type { FinalImageSpec } from '../docker/final-image';
import type { CommitOptions, Committed } from '../docker/layers';

/** A host's cache entries: found, recorded, shared. */
export interface EntryStore {
  /** The local entry for `fingerprint` after `parent`, if there is one this engine can read. */
  lookup(fingerprint: string, parent: string): Promise<FoundEntry | undefined>;
  /** The same, when the engine knows it without asking anyone (a kept index, a small result read before); else undefined. */
  known(fingerprint: string, parent: string): FoundEntry | undefined;
  /**
   * The entry from the registry cache: undefined when there is none (or no
   * registry); rejects, with the registry's words, when it could not be asked.
   */
  fetch(fingerprint: string, parent: string): Promise<FoundEntry | undefined>;
  /** Marks an entry used, for `strata ls` and `strata prune`. */
  markUsed(imageId: string, fingerprint: string): Promise<void>;
  /** The labels a commit stores `entry` in. */
  labels(entry: NewEntry): Promise<Record<string, string>>;
  /**
   * Runs `work` (a check for another build's entry, then a commit) once any
   * other build's work for the same task on this engine is done.
   */
  inTurn<T>(fingerprint: string, work: () => Promise<T>): Promise<T>;
  /**
   * Runs `commit`, which tags the entry for `fingerprint`, and knows that
   * entry from then on without asking Docker.
   */
  recording(fingerprint: string, commit: () => Promise<Committed>): Promise<Committed>;
  /** Shares a committed entry through the registry cache, if there is one. */
  share(imageId: string, fingerprint: string): Promise<void>;
  /**
   * Signs and keeps the provenance of a final image, beside it; with `push`,
   * pushes it beside the image's tags. Returns the references pushed.
   */
  attest(attestation: Attestation, push: boolean): Promise<string[]>;
}

/** Build containers, commits and images. */
export interface Workshop {
  startContainer(start: ContainerStart): Promise<BuildContainer>;
  /** Ends what a task left running in a container that stays up. */
  stopTaskProcesses(container: BuildContainer): Promise<void>;
  removeContainer(id: string): Promise<void>;
  /** Whether the task that ran in the container changed any file of it. */
  changedFiles(container: BuildContainer): Promise<boolean>;
  commit(parentImageId: string, opts: CommitOptions): Promise<Committed>;
  /** SOURCE_DATE_EPOCH: sets what the task changed in the container to at most `epoch`, before its commit; how many it set. */
  clampTimes(container: BuildContainer, epoch: number): Promise<number>;
  layerCount(imageId: string): Promise<number>;
  /** A one-layer copy of `imageId`, chain link `fingerprint`: its image ID. */
  flattened(imageId: string, fingerprint: string): Promise<string>;
  /** The layers of the flattened copy of link `fingerprint`, if one was made. */
  flattenedLayers(fingerprint: string): Promise<string[] | undefined>;
  finalImage(spec: FinalImageSpec): Promise<string>;
  pushTags(tags: string[]): Promise<void>;
}
