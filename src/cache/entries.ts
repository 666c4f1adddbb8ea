// The cache index lives in Docker itself, so it cannot drift from the images:
// every entry is an image tagged `strata-cache:<fingerprint>` whose labels say
// what made it. Tags, unlike labels, are not inherited by child images, so a
// lookup by tag finds exactly the image that was committed for that
// fingerprint; the labels are then checked against the fingerprint and the
// parent as well, in case someone retagged an image by hand.

import type Dockerode from 'dockerode';
import { isNotFound } from '../docker/client';
import { PlainMap } from '../protocol/frames';
import { FINGERPRINT_SCHEMA } from './fingerprint';
import { labelText } from './blob-store';
import { loadValue, storeValue } from './stored-value';

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
} as const;

export type EntryKind = 'layer' | 'final';

export interface NewEntry {
  fingerprint: string;
  parent: string;
  host: string;
  position: number;
  task: string;
  result: PlainMap;
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

export function entryLabels(entry: NewEntry): Record<string, string> {
  return {
    [LABEL.schema]: String(FINGERPRINT_SCHEMA),
    [LABEL.fingerprint]: entry.fingerprint,
    [LABEL.parent]: entry.parent,
    [LABEL.host]: entry.host,
    [LABEL.position]: String(entry.position),
    [LABEL.task]: entry.task,
    [LABEL.kind]: 'layer' satisfies EntryKind,
    [LABEL.result]: storeValue(entry.result, entry.secret),
    [LABEL.inputs]: storeValue(entry.inputs, entry.secret),
    [LABEL.build]: entry.build,
    [LABEL.seconds]: entry.seconds.toFixed(2),
  };
}

/** Labels that mark an image as a build's final image rather than a cache entry. */
export function finalImageLabels(): Record<string, string> {
  return { [LABEL.kind]: 'final' satisfies EntryKind, [LABEL.result]: '', [LABEL.inputs]: '' };
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

export interface Hit {
  entry: Entry;
  result: PlainMap;
  /** The entry image's layers (diff IDs), to check against its parent's. */
  layers: string[];
}

/**
 * The entry for `fingerprint` whose parent is `parent`, with its stored
 * result; undefined when there is none, or when its result cannot be read
 * here (a no_log result sealed on another machine), which counts as a miss.
 */
export async function lookupEntry(docker: Dockerode, fingerprint: string, parent: string): Promise<Hit | undefined> {
  let info: Dockerode.ImageInspectInfo;
  try {
    info = await docker.getImage(entryTag(fingerprint)).inspect();
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  return hitFromImage(docker, info.Id, info.Config?.Labels ?? {}, info.RootFS?.Layers ?? [], fingerprint, parent);
}

/** hitFromLabels, with a stored result kept apart (a large one) fetched first. */
export async function hitFromImage(
  docker: Dockerode,
  imageId: string,
  labels: Record<string, string>,
  layers: string[],
  fingerprint: string,
  parent: string,
): Promise<Hit | undefined> {
  if (labels[LABEL.fingerprint] !== fingerprint || labels[LABEL.parent] !== parent) return undefined;
  const result = await labelText(docker, CACHE_REPO, labels[LABEL.result]);
  return hitFromLabels(imageId, { ...labels, [LABEL.result]: result ?? '' }, layers, fingerprint, parent);
}

/** The hit an image's labels make for `fingerprint` after `parent`, if they make one. */
export function hitFromLabels(imageId: string, labels: Record<string, string>, layers: string[], fingerprint: string, parent: string): Hit | undefined {
  if (labels[LABEL.fingerprint] !== fingerprint || labels[LABEL.parent] !== parent) return undefined;
  if (labels[LABEL.kind] !== 'layer') return undefined;
  const result = loadValue(labels[LABEL.result]);
  if (typeof result !== 'object' || result === null) return undefined;
  return { entry: entryFromLabels(imageId, labels), result: result as PlainMap, layers };
}

/**
 * Makes `imageId` the entry for its fingerprint. Tagging twice is harmless:
 * the tag just moves. Tagging again is also how a hit marks an entry used:
 * Docker keeps the time an image was last tagged, and `strata ls` and
 * `strata prune` read it as "last used".
 */
export async function recordEntry(docker: Dockerode, imageId: string, fingerprint: string): Promise<void> {
  await docker.getImage(imageId).tag({ repo: CACHE_REPO, tag: fingerprint });
}
