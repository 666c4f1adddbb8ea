// Where a final image's provenance is kept: beside the image, not in it. A
// label in the image's config would change its ID with every build that
// took a task from the cache, and a reproducible image must keep one ID
// wherever it is built. So the signed envelope is an image of one file
// (file-image.ts), tagged strata-provenance:<the image ID's hex>, the way
// an OCI referrer names its subject by digest. A second tag,
// strata-provenance:tag-<hash of a tag>, keeps the latest document built
// under each of the image's tags, so a check of an image someone put under
// that tag can say what changed. With strata_push, the document goes to the
// image's repository as <repo>:strata-provenance-<the image ID's hex>.

import { createHash } from 'node:crypto';
import type Dockerode from 'dockerode';
import { dockerCall, unlessGone } from '../docker/client';
import { importFileImage, readFileImage } from '../docker/file-image';
import { pushImage } from '../docker/registry';
import { StrataError } from '../protocol/frames';
import { splitTag } from '../docker/final-image';
import { Envelope, hexOf } from './provenance';

export const PROVENANCE_REPO = 'strata-provenance';
/** The label that names the image a provenance image is about. */
export const ATTESTS_LABEL = 'strata.attests';
const PUSHED_TAG_PREFIX = 'strata-provenance-';

/** The repository of an image name (`name:tag`, or `name`, which means `name:latest`). */
const repositoryOf = (name: string) => splitTag(name).repo;

function byTagRef(name: string): string {
  const { repo, tag } = splitTag(name);
  return `${PROVENANCE_REPO}:tag-${createHash('sha256').update(`${repo}:${tag}`).digest('hex').slice(0, 48)}`;
}

/** Keeps `envelope` as the provenance of `imageId` and of each of its tags; replaces what was kept for them before. */
export async function keepProvenance(docker: Dockerode, host: string, imageId: string, tags: string[], envelope: Envelope): Promise<void> {
  const refs = [`${PROVENANCE_REPO}:${hexOf(imageId)}`, ...tags.map(byTagRef)];
  const before = await Promise.all(refs.map((ref) => unlessGone(docker.getImage(ref).inspect())));
  const labels = { 'strata.kind': 'provenance', [ATTESTS_LABEL]: imageId, 'strata.host': host };
  await importFileImage(docker, PROVENANCE_REPO, hexOf(imageId), [Buffer.from(JSON.stringify(envelope))], labels, 'keeping the image\'s provenance');
  for (const ref of refs.slice(1)) {
    const [repo, tag] = [ref.slice(0, ref.indexOf(':')), ref.slice(ref.indexOf(':') + 1)];
    await dockerCall('keeping the image\'s provenance', () => docker.getImage(refs[0]).tag({ repo, tag }));
  }
  // A document no tag names any more is gone for good: remove its image.
  for (const old of new Set(before.filter((info) => info).map((info) => info!.Id))) {
    const info = await unlessGone(docker.getImage(old).inspect());
    if (info && !(info.RepoTags ?? []).length) await unlessGone(docker.getImage(old).remove()).catch(() => undefined);
  }
}

export interface FoundProvenance {
  /** The document written for this very image. */
  own?: Envelope;
  /** The latest document written under the tag the image was named by (none for an ID). */
  latestForTag?: Envelope;
}

async function envelopeAt(docker: Dockerode, ref: string): Promise<Envelope | undefined> {
  const file = await readFileImage(docker, ref);
  if (!file) return undefined;
  try {
    return JSON.parse(file.toString('utf8')) as Envelope;
  } catch {
    throw new StrataError('bad_config', `${ref} holds no provenance document (not JSON): remove it with \`docker rmi ${ref}\``);
  }
}

/** What is kept of the provenance of image `imageId`, which the user named `name` (a tag, or an ID). */
export async function findProvenance(docker: Dockerode, name: string, imageId: string): Promise<FoundProvenance> {
  const byId = /^(sha256:)?[0-9a-f]{12,64}$/.test(name);
  const refs = [`${PROVENANCE_REPO}:${hexOf(imageId)}`, ...(byId ? [] : [`${repositoryOf(name)}:${PUSHED_TAG_PREFIX}${hexOf(imageId)}`])];
  let own: Envelope | undefined;
  for (const ref of refs) own ??= await envelopeAt(docker, ref);
  return { own, latestForTag: byId ? undefined : await envelopeAt(docker, byTagRef(name)) };
}

/** Pushes the provenance of `imageId` beside each tag pushed (strata_push); rejects naming the tag that failed. */
export async function pushProvenance(docker: Dockerode, imageId: string, tags: string[]): Promise<string[]> {
  const pushed: string[] = [];
  for (const tag of tags) {
    const repo = repositoryOf(tag);
    const ref = `${repo}:${PUSHED_TAG_PREFIX}${hexOf(imageId)}`;
    await dockerCall('tagging the provenance to push', () => docker.getImage(`${PROVENANCE_REPO}:${hexOf(imageId)}`).tag({ repo, tag: `${PUSHED_TAG_PREFIX}${hexOf(imageId)}` }));
    try {
      await pushImage(docker, ref);
      pushed.push(ref);
    } catch (err) {
      throw new StrataError('docker_error', `could not push the provenance ${ref}: ${(err as Error).message}`);
    }
  }
  return pushed;
}
