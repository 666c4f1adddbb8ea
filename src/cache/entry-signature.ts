// Entries from a shared registry cache are used only when signed with the
// engine's sealing key. Anyone who may push to the registry could otherwise
// plant an entry at a fingerprint anyone holding the playbook can compute:
// labels copied from a real entry onto other layers, or labels of their own
// making. The signature covers the entry's place in the chain, its layers and
// its stored values, so neither passes without the key, which every machine
// sharing the cache holds (STRATA_SECRET).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { LABEL } from './entries';
import { SealingKey } from './stored-value';

export const SIGNATURE_LABEL = 'strata.signature';

/** What an entry's signature covers, in order. */
function signedParts(labels: Record<string, string>, layers: string[]): string[] {
  return [LABEL.fingerprint, LABEL.parent, LABEL.kind, LABEL.result, LABEL.inputs].map((name) => labels[name] ?? '').concat(layers);
}

export function entrySignature(key: SealingKey, labels: Record<string, string>, layers: string[]): string {
  // A key of its own for signing, derived from the sealing key.
  const signingKey = createHmac('sha256', key.bytes()).update('strata entry signature v1').digest();
  const mac = createHmac('sha256', signingKey);
  for (const part of signedParts(labels, layers)) mac.update(`${part.length}:${part}`);
  return mac.digest('hex');
}

/** Whether the entry's labels carry a signature of these labels and layers under `key`. */
export function isSignedBy(key: SealingKey, labels: Record<string, string>, layers: string[]): boolean {
  const claimed = Buffer.from(labels[SIGNATURE_LABEL] ?? '', 'hex');
  const expected = Buffer.from(entrySignature(key, labels, layers), 'hex');
  return claimed.length === expected.length && timingSafeEqual(claimed, expected);
}
