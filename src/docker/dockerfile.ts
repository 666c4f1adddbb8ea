// Writing values into Dockerfile instructions (a final image's config, a
// flattened copy's, labels for Podman's commit) so that Docker reads back
// exactly the value, whatever it holds.

import { StrataError } from '../protocol/frames';

/** Quotes a word for a Dockerfile instruction that substitutes variables (ENV, USER...). */
export function quote(word: string, what: string): string {
  if (/[\r\n]/.test(word)) {
    throw new StrataError('bad_config', `${what} contains a line break, which an image config value cannot hold. Fix the inventory.`);
  }
  return `"${word.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

/** LABEL instructions that set `labels` (for a commit's or an import's `changes`). */
export function labelInstructions(labels: Record<string, string>): string[] {
  return Object.entries(labels).map(([k, v]) => `LABEL ${quote(k, `label ${k}`)}=${quote(v, `label ${k}`)}`);
}
