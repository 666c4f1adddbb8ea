// Stored values too big for a label. Docker refuses a commit whose request
// head passes 1 MiB, and labels travel in it; a label of megabytes would also
// swell every `docker inspect`. A big value (a task's 5 MB of stdout, a 1 MB
// `content:`) is kept instead as an image of its own, one file in one layer,
// tagged `strata-cache:blob-<sha256>` beside the entries, and the label holds
// `r1:<sha256>`. It is never part of any image's filesystem, and it travels
// to a registry cache with the entries that name it.

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { dockerCall, followProgress, unlessGone } from '../docker/client';
import { removeContainer } from '../docker/containers';

/** Labels longer than this go to a blob. */
export const INLINE_LIMIT = 32 * 1024;

const REF_PREFIX = 'r1:';
const BLOB_TAG_PREFIX = 'blob-';
const FILE = 'value';
const BLOCK = 512;

export function isBlobRef(text: string | undefined): boolean {
  return Boolean(text?.startsWith(REF_PREFIX));
}

/** The blob tags (without repository) the labels name. */
export function blobTagsOf(labels: Record<string, string>): string[] {
  return Object.values(labels)
    .filter(isBlobRef)
    .map((ref) => BLOB_TAG_PREFIX + ref.slice(REF_PREFIX.length));
}

export function isBlobTag(tag: string): boolean {
  return tag.startsWith(BLOB_TAG_PREFIX);
}

/** `labels` with every value over INLINE_LIMIT moved to a blob under `repo`. */
export async function spillLargeLabels(docker: Dockerode, repo: string, labels: Record<string, string>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    out[key] = value.length > INLINE_LIMIT ? await putBlob(docker, repo, value) : value;
  }
  return out;
}

/** A label's stored text, fetched from its blob when the label names one; undefined when the blob is gone. */
export async function labelText(docker: Dockerode, repo: string, value: string | undefined): Promise<string | undefined> {
  if (!value || !isBlobRef(value)) return value;
  const sha = value.slice(REF_PREFIX.length);
  const text = await getBlob(docker, `${repo}:${BLOB_TAG_PREFIX}${sha}`);
  // A blob is named by its content's hash: one whose content is not that is not it.
  return text !== undefined && createHash('sha256').update(text).digest('hex') === sha ? text : undefined;
}

async function putBlob(docker: Dockerode, repo: string, text: string): Promise<string> {
  const sha = createHash('sha256').update(text).digest('hex');
  const ref = `${repo}:${BLOB_TAG_PREFIX}${sha}`;
  if (!(await unlessGone(docker.getImage(ref).inspect()))) {
    const progress = await dockerCall('storing a large value', () =>
      docker.importImage(Readable.from([tarOfOneFile(FILE, Buffer.from(text))]) as unknown as NodeJS.ReadableStream, {
        repo,
        tag: BLOB_TAG_PREFIX + sha,
        changes: ['LABEL strata.kind=blob'],
      } as object),
    );
    await followProgress(docker, progress, 'storing a large value');
  }
  return REF_PREFIX + sha;
}

async function getBlob(docker: Dockerode, ref: string): Promise<string | undefined> {
  // Never started: the container only lends its filesystem to the archive API.
  const container = await unlessGone(docker.createContainer({ Image: ref, Cmd: [FILE] }));
  if (!container) return undefined;
  try {
    const stream = await container.getArchive({ path: `/${FILE}` });
    const chunks: Buffer[] = [];
    for await (const chunk of stream as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
    return fileOfTar(Buffer.concat(chunks))?.toString('utf8');
  } finally {
    await removeContainer(docker, container.id);
  }
}

/** A ustar archive holding one regular file. */
export function tarOfOneFile(name: string, data: Buffer): Buffer {
  const header = Buffer.alloc(BLOCK);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100, 'ascii');
  header.write('0000000\0', 108, 'ascii');
  header.write('0000000\0', 116, 'ascii');
  header.write(data.length.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  header.write('00000000000\0', 136, 'ascii');
  header.write('        ', 148, 'ascii');
  header.write('0', 156, 'ascii');
  header.write('ustar\0' + '00', 257, 'ascii');
  const sum = header.reduce((total, byte) => total + byte, 0);
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  const padding = Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK);
  return Buffer.concat([header, data, padding, Buffer.alloc(2 * BLOCK)]);
}

/** The content of the first regular file in a tar archive. */
export function fileOfTar(tar: Buffer): Buffer | undefined {
  for (let offset = 0; offset + BLOCK <= tar.length; ) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) return undefined;
    const size = parseInt(header.subarray(124, 136).toString('ascii').replace(/\0.*$/, '').trim() || '0', 8);
    const type = String.fromCharCode(header[156] || 0x30);
    const start = offset + BLOCK;
    if (type === '0' || type === '\0') return tar.subarray(start, start + size);
    offset = start + Math.ceil(size / BLOCK) * BLOCK;
  }
  return undefined;
}
