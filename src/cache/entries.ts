// The cache index lives in Docker itself, so it cannot drift from the images:
// every entry is an image tagged `strata-cache:<fingerprint>` whose labels say
// what made it. Tags, unlike labels, are not inherited by child images, so a
// lookup by tag finds exactly the image that was committed for that
// fingerprint; the labels are then checked against the fingerprint and the
// parent as well, in case someone retagged an image by hand.

import { PlainMap } from '../protocol/frames';
import { FINGERPRINT_SCHEMA } from './fingerprint';
import { openStored, packValue, seal, SealingKey, StoredBytes } from './stored-value';

export const CACHE_REPO = 'strata-cache';

export const LABEL = {
  schema: 'strata.schema',
  fingerprint: 'strata.fingerprint',
  parent: 'strata.parent',
  host: 'strata.host',
  position: 'strata.position',
  task: 'strata.task',
  kind: 'strata.kind',
  result: 'strata.result',
  inputs: 'strata.inputs',
  build: 'strata.build',
  seconds: 'strata.seconds',
  /** On a final image: the host's strata_from as the engine resolved it, and that image's ID. */
  base: 'strata.base',
  baseId: 'strata.base.id',
} as const;

export type EntryKind = 'layer' | 'final';

export interface NewEntry {
  fingerprint: string;
  parent: string;
  host: string;
  position: number;
  task: string;
  /** The task's result as the plugin packed it (see packValue): kept as it came. */
  result: Uint8Array;
  inputs: PlainMap;
  secret: boolean;
  /** The build that made it: `strata explain` compares a build's first miss with older builds. */
  build: string;
  /** How long the task took to run, which is what a hit saves. */
  seconds: number;
}

export interface Entry {
  fingerprint: string;
  parent: string;
  host: string;
  position: number;
  task: string;
  imageId: string;
  /** Seconds the task took when it ran. */
  seconds: number;
}

export function entryTag(fingerprint: string): string {
  return `${CACHE_REPO}:${fingerprint}`;
}

const ENTRY_TAG = new RegExp(`^(?:(?:docker\\.io/library|localhost)/)?${CACHE_REPO}:([0-9a-f]{64})$`);

/**
 * The fingerprint an image tag names, when it is a cache entry's tag. Podman
 * lists local tags fully qualified (`docker.io/library/strata-cache:<fp>`).
 */
export function fingerprintOfTag(tag: string): string | undefined {
  return ENTRY_TAG.exec(tag)?.[1];
}

/**
 * The labels that store `entry`, with its result and inputs as stored values
 * (sealed under `sealing` when the entry is secret), to become label text or blobs.
 */
export function entryLabels(entry: NewEntry, sealing: SealingKey): Record<string, string | StoredBytes> {
  const sealWith = entry.secret ? sealing : undefined;
  return {
    [LABEL.schema]: String(FINGERPRINT_SCHEMA),
    [LABEL.fingerprint]: entry.fingerprint,
    [LABEL.parent]: entry.parent,
    [LABEL.host]: entry.host,
    [LABEL.position]: String(entry.position),
    [LABEL.task]: entry.task,
    [LABEL.kind]: 'layer' satisfies EntryKind,
    [LABEL.result]: seal(entry.result, sealWith),
    [LABEL.inputs]: seal(packValue(entry.inputs), sealWith),
    [LABEL.build]: entry.build,
    [LABEL.seconds]: entry.seconds.toFixed(2),
  };
}

/**
 * Labels that mark an image as a build's final image rather than a cache
 * entry, and say which host made it from which base (`strata history`).
 */
export function finalImageLabels(host: string, base: { ref: string; id: string }): Record<string, string> {
  return {
    [LABEL.kind]: 'final' satisfies EntryKind,
    [LABEL.result]: '',
    [LABEL.inputs]: '',
    [LABEL.host]: host,
    [LABEL.base]: base.ref,
    [LABEL.baseId]: base.id,
  };
}

function entryFromLabels(imageId: string, labels: Record<string, string>): Entry {
  return {
    fingerprint: labels[LABEL.fingerprint],
    parent: labels[LABEL.parent],
    host: labels[LABEL.host],
    position: Number(labels[LABEL.position]),
    task: labels[LABEL.task],
    imageId,
    seconds: Number(labels[LABEL.seconds] ?? 0),
  };
}

/** A cache entry found for a task, with what a hit needs of it. */
export interface FoundEntry {
  entry: Entry;
  /** The stored result, packed (as the plugin sent it, and gets it back). */
  result: Uint8Array;
  /** The entry image's layers (diff IDs), to check against its parent's. */
  layers: string[];
  /** Where the lookup found it: in the host's index in memory, or by asking Docker. */
  from?: 'memory' | 'docker';
}

/**
 * The entry an image's labels make for `fingerprint` after `parent`, if they
 * make one: undefined when they name another link, or when the stored result
 * cannot be read here (sealed on another machine), which counts as a miss.
 * `result` is the result label's value, fetched from its blob when it had one.
 */
export function foundEntry(
  imageId: string,
  labels: Record<string, string>,
  layers: string[],
  at: { fingerprint: string; parent: string },
  result: StoredBytes | undefined,
  sealing: SealingKey,
): FoundEntry | undefined {
  if (!namesLink(labels, at)) return undefined;
  const packed = openStored(result, sealing);
  return packed && { entry: entryFromLabels(imageId, labels), result: packed, layers };
}

/** Whether an image's labels make it the entry for `fingerprint` after `parent`. */
export function namesLink(labels: Record<string, string>, at: { fingerprint: string; parent: string }): boolean {
  return labels[LABEL.fingerprint] === at.fingerprint && labels[LABEL.parent] === at.parent && labels[LABEL.kind] === 'layer';
}
