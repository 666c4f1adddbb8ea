// Sharing the cache through a registry (STRATA_CACHE_REPO=host:port/name), the
// way `docker buildx --cache-to/--cache-from type=registry` does: every entry
// a build commits is pushed as <repo>:<fingerprint> (labels, and so the stored
// result, travel with it), and a fingerprint missing here is pulled from there
// before the task runs. Docker moves only the layers the other side lacks.

import type Dockerode from 'dockerode';
import { dockerMessage, removeImageIfPresent } from '../docker/client';
import { removeContainer } from '../docker/containers';
import { pullIfPresent, pushImage } from '../docker/registry';
import { blobTagsOf } from './blob-store';
import { CACHE_REPO, entryTag } from './entries';
import { entrySignature, isSignedBy, SIGNATURE_LABEL } from './entry-signature';
import { SealingKey } from './stored-value';

export class RemoteCache {
  constructor(
    private readonly docker: Dockerode,
    readonly repo: string,
    private readonly key: SealingKey,
  ) {}

  private ref(tag: string): string {
    return `${this.repo}:${tag}`;
  }

  /**
   * Pulls the entry for `fingerprint`, with its large values, and names it a
   * local entry. False when the registry does not have them; rejects, with
   * the registry's words, when it could not be asked, or when the entry is
   * not signed with this engine's key (a planted entry, or a machine with
   * another STRATA_SECRET).
   */
  async fetch(fingerprint: string): Promise<boolean> {
    if (!(await this.pullAs(fingerprint))) return false;
    const info = await this.docker.getImage(entryTag(fingerprint)).inspect();
    const labels = info.Config?.Labels ?? {};
    if (!isSignedBy(this.key, labels, info.RootFS?.Layers ?? [])) {
      await removeImageIfPresent(this.docker, entryTag(fingerprint));
      throw new Error(
        `cache entry ${fingerprint.slice(0, 12)} in ${this.repo} is not signed with this engine's key, so it is not used ` +
          '(every machine that shares STRATA_CACHE_REPO must set the same STRATA_SECRET; a planted entry fails the same way)',
      );
    }
    // An entry whose large values did not come along is no entry here.
    for (const blob of blobTagsOf(labels)) {
      if (!(await this.pullAs(blob))) {
        await removeImageIfPresent(this.docker, entryTag(fingerprint));
        return false;
      }
    }
    return true;
  }

  /** Pulls <repo>:<tag> and names it <CACHE_REPO>:<tag>; false when the registry has no such tag. */
  private async pullAs(tag: string): Promise<boolean> {
    try {
      if (!(await pullIfPresent(this.docker, this.ref(tag)))) return false;
    } catch (err) {
      throw new Error(`could not ask ${this.repo} for cache entries: ${dockerMessage(err)}`);
    }
    await this.docker.getImage(this.ref(tag)).tag({ repo: CACHE_REPO, tag });
    await removeImageIfPresent(this.docker, this.ref(tag));
    return true;
  }

  /** Pushes an entry; rejects with a sentence saying why it could not. */
  async push(imageId: string, fingerprint: string): Promise<void> {
    // Its large values first, so no one pulls an entry whose values are not there yet.
    const labels = (await this.docker.getImage(imageId).inspect()).Config?.Labels ?? {};
    for (const blob of blobTagsOf(labels)) {
      await this.pushAs(`${CACHE_REPO}:${blob}`, blob, `a large value of cache entry ${fingerprint.slice(0, 12)}`);
    }
    await this.pushAs(imageId, fingerprint, `cache entry ${fingerprint.slice(0, 12)}`, () => this.signedCopy(imageId, fingerprint));
  }

  /**
   * The entry as it travels: the same layers, its labels plus a signature,
   * tagged <repo>:<fingerprint>. A commit of a container never started adds
   * no layer, so only the image config differs.
   */
  private async signedCopy(imageId: string, fingerprint: string): Promise<void> {
    const info = await this.docker.getImage(imageId).inspect();
    const labels = info.Config?.Labels ?? {};
    const signature = entrySignature(this.key, labels, info.RootFS?.Layers ?? []);
    // Its command is the image's own, so the copy's config is the entry's.
    const container = await this.docker.createContainer({ Image: imageId, Cmd: info.Config?.Cmd ?? ['/bin/sh'], Entrypoint: info.Config?.Entrypoint ?? [] });
    try {
      await container.commit({ repo: this.repo, tag: fingerprint, pause: false, Labels: { ...labels, [SIGNATURE_LABEL]: signature } });
    } finally {
      await removeContainer(this.docker, container.id);
    }
  }

  /** Pushes `image` as <repo>:<tag>, made by `name` (a plain tag by default). */
  private async pushAs(image: string, tag: string, what: string, name?: () => Promise<void>): Promise<void> {
    const ref = this.ref(tag);
    await (name ? name() : this.docker.getImage(image).tag({ repo: this.repo, tag }));
    try {
      await pushImage(this.docker, ref);
    } catch (err) {
      throw new Error(`could not push ${what} to ${this.repo}: ${dockerMessage(err)}`);
    } finally {
      await removeImageIfPresent(this.docker, ref);
    }
  }
}
