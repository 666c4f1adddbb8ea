// Turning a build container into a cache layer. `docker commit` stores the
// container's changes against the image it was created from; a commit with no
// changes makes a new image but no new layer, which is how tasks that leave
// the filesystem alone stay free.

import type Dockerode from 'dockerode';
import { dockerCall } from './client';

export interface CommitOptions {
  containerId: string;
  labels: Record<string, string>;
  /** Shown by `docker history` next to the layer. */
  comment: string;
}

export interface Committed {
  imageId: string;
  /** Bytes the new layer adds; 0 when the task changed no file. */
  layerBytes: number;
  /** Whether the commit added a layer to the chain. */
  addedLayer: boolean;
}

export async function commitLayer(docker: Dockerode, parentImageId: string, opts: CommitOptions): Promise<Committed> {
  const container = docker.getContainer(opts.containerId);
  const { Id: imageId } = await dockerCall('committing the build container', () =>
    container.commit({
      comment: opts.comment,
      pause: true,
      // The build container's stdin-holding shell must not become the image's.
      Labels: opts.labels,
      OpenStdin: false,
      StdinOnce: false,
      AttachStdin: false,
    }),
  );
  const [parent, image] = await Promise.all([
    dockerCall('reading the parent image', () => docker.getImage(parentImageId).inspect()),
    dockerCall('reading the committed image', () => docker.getImage(imageId).inspect()),
  ]);
  const addedLayer = (image.RootFS.Layers ?? []).length > (parent.RootFS.Layers ?? []).length;
  return { imageId, layerBytes: addedLayer ? image.Size - parent.Size : 0, addedLayer };
}
