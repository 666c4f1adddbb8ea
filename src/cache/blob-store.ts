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
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { dockerCall, followProgress, unlessGone } from '../docker/client';
import { removeContainer } from '../docker/containers';
import { parseStoredFile, parseStoredText, StoredBytes, storedText, storedTextLength } from './stored-value';

/** Label texts longer than this go to a blob. */
export const INLINE_LIMIT = 32 * 1024;

/** A blob whose file holds a value's prefix and bytes. */
const REF_PREFIX = 'r2:';
/** Before protocol 8: a blob whose file holds the value's label text (base64); still read. */
const TEXT_REF_PREFIX = 'r1:';
const BLOB_TAG_PREFIX = 'blob-';
const FILE = 'value';
const BLOCK = 512;

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
  const file = await getBlob(docker, `${repo}:${BLOB_TAG_PREFIX}${sha}`);
  // A blob is named by its content's hash: one whose content is not that is not it.
  if (file === undefined || createHash('sha256').update(file).digest('hex') !== sha) return undefined;
  return label.startsWith(REF_PREFIX) ? parseStoredFile(file) : parseStoredText(file.toString('latin1'));
}

async function putBlob(docker: Dockerode, repo: string, value: StoredBytes): Promise<string> {
  const file = [Buffer.from(value.prefix, 'latin1'), value.bytes];
  const hash = createHash('sha256');
  file.forEach((part) => hash.update(part));
  const sha = hash.digest('hex');
  const ref = `${repo}:${BLOB_TAG_PREFIX}${sha}`;
  if (!(await unlessGone(docker.getImage(ref).inspect()))) {
    const progress = await dockerCall('storing a large value', () =>
      docker.importImage(Readable.from(tarOfOneFile(FILE, file)) as unknown as NodeJS.ReadableStream, {
        repo,
        tag: BLOB_TAG_PREFIX + sha,
        changes: ['LABEL strata.kind=blob'],
      } as object),
    );
    await followProgress(docker, progress, 'storing a large value');
  }
  return REF_PREFIX + sha;
}

async function getBlob(docker: Dockerode, ref: string): Promise<Buffer | undefined> {
  // Never started: the container only lends its filesystem to the archive API.
  const container = await unlessGone(docker.createContainer({ Image: ref, Cmd: [FILE] }));
  if (!container) return undefined;
  try {
    return await fileOfTar((await container.getArchive({ path: `/${FILE}` })) as unknown as AsyncIterable<Buffer>);
  } finally {
    await removeContainer(docker, container.id);
  }
}

/** A ustar archive holding one regular file whose content is `parts`, as the pieces to send (`parts` not copied). */
export function tarOfOneFile(name: string, parts: Uint8Array[]): Uint8Array[] {
  const size = parts.reduce((total, part) => total + part.length, 0);
  const header = Buffer.alloc(BLOCK);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100, 'ascii');
  header.write('0000000\0', 108, 'ascii');
  header.write('0000000\0', 116, 'ascii');
  header.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  header.write('00000000000\0', 136, 'ascii');
  header.write('        ', 148, 'ascii');
  header.write('0', 156, 'ascii');
  header.write('ustar\0' + '00', 257, 'ascii');
  const sum = header.reduce((total, byte) => total + byte, 0);
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  const padding = Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
  return [header, ...parts, padding, Buffer.alloc(2 * BLOCK)];
}

/**
 * The content of the first regular file in a tar archive, read as it
 * streams in: into one buffer of the file's size, the rest not read.
 */
export async function fileOfTar(tar: AsyncIterable<Uint8Array>): Promise<Buffer | undefined> {
  let pending = Buffer.alloc(0);
  let file: Buffer | undefined;
  let filled = 0;
  /** Bytes of the entries before the file still to pass over. */
  let skip = 0;
  for await (const chunk of tar) {
    let data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (data.length > 0) {
      if (file) {
        const taken = data.copy(file, filled, 0, file.length - filled);
        filled += taken;
        if (filled === file.length) return file;
        data = data.subarray(taken);
      } else if (skip > 0) {
        const passed = Math.min(skip, data.length);
        skip -= passed;
        data = data.subarray(passed);
      } else {
        const wanted = BLOCK - pending.length;
        pending = Buffer.concat([pending, data.subarray(0, wanted)]);
        data = data.subarray(wanted);
        if (pending.length < BLOCK) continue;
        const header = pending;
        pending = Buffer.alloc(0);
        if (header.every((byte) => byte === 0)) return undefined;
        const size = parseInt(header.subarray(124, 136).toString('ascii').replace(/\0.*$/, '').trim() || '0', 8);
        const type = String.fromCharCode(header[156] || 0x30);
        if (type === '0' || type === '\0') {
          file = Buffer.allocUnsafe(size);
          if (size === 0) return file;
        } else {
          skip = Math.ceil(size / BLOCK) * BLOCK;
        }
      }
    }
  }
  return undefined;
}
