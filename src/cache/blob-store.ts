// Stored values too big for a label. Docker refuses a commit whose request
// head passes 1 MiB, and labels travel in it; a label of megabytes would also
// swell every `docker inspect`. A big value (a task's 5 MB of stdout, a 1 MB
// `content:`) is kept instead as an image of its own, one file in one layer,
// tagged `strata-cache:blob-<sha256>` beside the entries, and the label holds
// `r2:<sha256>`. It is never part of any image's filesystem, and it travels
// to a registry cache with the entries that name it. The value is streamed to
// Docker and back, never held as text: a 50 MB result costs the engine its
// 50 MB, not copies of it in base64.

import { createHash } from 'node:crypto';
import type Dockerode from 'dockerode';
import { unlessGone } from '../docker/client';
import { importFileImage, readFileImage } from '../docker/file-image';
import { parseStoredFile, parseStoredText, StoredBytes, storedText, storedTextLength } from './stored-value';

/** Label texts longer than this go to a blob. */
export const INLINE_LIMIT = 32 * 1024;

/** A blob whose file holds a value's prefix and bytes. */
const REF_PREFIX = 'r2:';
/** Before protocol 8: a blob whose file holds the value's label text (base64); still read. */
const TEXT_REF_PREFIX = 'r1:';
const BLOB_TAG_PREFIX = 'blob-';

export function isBlobRef(text: string | undefined): boolean {
  return Boolean(text?.startsWith(REF_PREFIX) || text?.startsWith(TEXT_REF_PREFIX));
}

/** The blob tags (without repository) the labels name. */
export function blobTagsOf(labels: Record<string, string>): string[] {
  return Object.values(labels)
    .filter(isBlobRef)
    .map((ref) => BLOB_TAG_PREFIX + shaOf(ref));
}

/** The hash a blob reference names its blob by. */
function shaOf(ref: string): string {
  return ref.slice(ref.indexOf(':') + 1);
}

export function isBlobTag(tag: string): boolean {
  return tag.startsWith(BLOB_TAG_PREFIX);
}

/** The labels: each stored value as its text, or, when that would pass INLINE_LIMIT, in a blob under `repo`. */
export async function labelsWithValues(docker: Dockerode, repo: string, labels: Record<string, string | StoredBytes>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    if (typeof value === 'string') out[key] = value;
    else out[key] = storedTextLength(value) > INLINE_LIMIT ? await putBlob(docker, repo, value) : storedText(value);
  }
  return out;
}

/** The value a label stores, fetched from its blob when the label names one; undefined when there is none, or the blob is gone. */
export async function storedValue(docker: Dockerode, repo: string, label: string | undefined): Promise<StoredBytes | undefined> {
  if (!label || !isBlobRef(label)) return parseStoredText(label);
  const sha = shaOf(label);
  const file = await readFileImage(docker, `${repo}:${BLOB_TAG_PREFIX}${sha}`);
  // A blob is named by its content's hash: one whose content is not that is not it.
  if (file === undefined || createHash('sha256').update(file).digest('hex') !== sha) return undefined;
  return label.startsWith(REF_PREFIX) ? parseStoredFile(file) : parseStoredText(file.toString('latin1'));
}

async function putBlob(docker: Dockerode, repo: string, value: StoredBytes): Promise<string> {
  const file = [Buffer.from(value.prefix, 'latin1'), value.bytes];
  const hash = createHash('sha256');
  file.forEach((part) => hash.update(part));
  const sha = hash.digest('hex');
  if (!(await unlessGone(docker.getImage(`${repo}:${BLOB_TAG_PREFIX}${sha}`).inspect()))) {
    await importFileImage(docker, repo, BLOB_TAG_PREFIX + sha, file, { 'strata.kind': 'blob' }, 'storing a large value');
  }
  return REF_PREFIX + sha;
}
