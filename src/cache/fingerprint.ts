// The fingerprint recipe (DESIGN.md, "The fingerprint"). Everything that can
// change what a task does to the container goes in; nothing that changes from
// one run or one checkout to the next does.

import { createHash, randomBytes } from 'node:crypto';
import { Plain, PlainMap } from '../protocol/frames';

/** Bump whenever the recipe below, or the canonical encoding, changes. */
export const FINGERPRINT_SCHEMA = 1;

export interface FingerprintParts {
  /** The previous link's fingerprint; the base image ID for the first link. */
  parent: string;
  host: string;
  /** How many links this host's chain has before this one. */
  position: number;
  /** What the plugin found that decides the task's effect; opaque here. */
  inputs: PlainMap;
  /** False gives the task a fingerprint no later build can meet. */
  cacheable: boolean;
}

/**
 * JSON with object keys sorted and no white space; byte strings as
 * {"$bytes": base64}. Equal values give equal text whatever the key order.
 */
export function canonical(value: Plain | undefined): string {
  if (value === null || value === undefined) return 'null';
  if (value instanceof Uint8Array) return canonical({ $bytes: Buffer.from(value).toString('base64') });
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return JSON.stringify(String(value));
  return JSON.stringify(value);
}

export function sha256(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

export function fingerprint(parts: FingerprintParts): string {
  const nonce = parts.cacheable ? '' : randomBytes(16).toString('hex');
  return sha256(
    canonical({
      schema: FINGERPRINT_SCHEMA,
      parent: parts.parent,
      host: parts.host,
      position: parts.position,
      inputs: parts.inputs,
      nonce,
    }),
  );
}
