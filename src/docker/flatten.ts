// Overlay2 refuses to mount more than 125 layers. A host chain longer than
// that still builds: once the chain's tip has FLATTEN_AT layers, the next
// build container starts from a one-layer copy of the tip (docker export,
// docker import) instead of the tip itself. Every cache entry stays what it
// was and addressable; only the layers built after that point sit on the
// copy, so every image stays under the limit.

import type Dockerode from 'dockerode';
import { dockerCall, followProgress, unlessGone } from './client';
import { removeContainer } from './containers';
import { quote } from './dockerfile';

export const FLATTEN_AT = 100;
/** Flattened copies are tagged <FLAT_REPO>:<fingerprint of the link they copy>. */
export const FLAT_REPO = 'strata-flat';

export async function layerCount(docker: Dockerode, imageId: string): Promise<number> {
  const info = await dockerCall('reading an image', () => docker.getImage(imageId).inspect());
  return (info.RootFS.Layers ?? []).length;
}

/** The image config a flattened copy must keep, as `docker import` changes. */
function configChanges(config: Dockerode.ImageInspectInfo['Config']): string[] {
  const changes = (config.Env ?? []).map((pair) => {
    const at = pair.indexOf('=');
    return `ENV ${quote(pair.slice(0, at), 'an ENV name')}=${quote(pair.slice(at + 1), 'an ENV value')}`;
  });
  if (config.WorkingDir) changes.push(`WORKDIR ${quote(config.WorkingDir, 'WorkingDir')}`);
  if (config.User) changes.push(`USER ${quote(config.User, 'User')}`);
  return changes;
}

/** The layers of the flattened copy of the chain up to `fingerprint`, if there is one. */
export async function flattenedLayers(docker: Dockerode, fingerprint: string): Promise<string[] | undefined> {
  const flat = await unlessGone(docker.getImage(`${FLAT_REPO}:${fingerprint}`).inspect());
  return flat && (flat.RootFS?.Layers ?? []);
}

/**
 * A one-layer image with the same files and run config as `imageId`, made
 * once per chain link and kept under the tag strata-flat:<fingerprint>.
 */
export async function flattenedImage(docker: Dockerode, imageId: string, fingerprint: string): Promise<string> {
  const tag = `${FLAT_REPO}:${fingerprint}`;
  const made = await unlessGone(docker.getImage(tag).inspect());
  if (made) return made.Id;
  const source = await dockerCall('reading the image to flatten', () => docker.getImage(imageId).inspect());
  const container = await dockerCall('creating a container to flatten', () =>
    docker.createContainer({ Image: imageId, Entrypoint: [], Cmd: ['/bin/sh'] }),
  );
  try {
    const tar = await dockerCall('exporting the chain for flattening', () => container.export());
    const progress = await dockerCall('importing the flattened chain', () =>
      docker.importImage(tar, { repo: FLAT_REPO, tag: fingerprint, changes: configChanges(source.Config) } as object),
    );
    await followProgress(docker, progress, 'flattening');
  } finally {
    await removeContainer(docker, container.id);
  }
  return (await dockerCall('reading the flattened image', () => docker.getImage(tag).inspect())).Id;
}
