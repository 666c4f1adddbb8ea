// Turning a build container into a cache layer. `docker commit` stores the
// container's changes against the image it was created from; a commit with no
// changes makes a new image but no new layer, which is how tasks that leave
// the filesystem alone stay free.

import type Dockerode from 'dockerode';
import { dockerCall, fullImageId, isPodman } from './client';
import { labelInstructions } from './dockerfile';

export interface CommitOptions {
  containerId: string;
  labels: Record<string, string>;
  /** Shown by `docker history` next to the layer. */
  comment: string;
  /**
   * The name to give the new image in the same request, so no crash can
   * leave it committed but unnamed (a full-size image nothing lists).
   */
  reference?: { repo: string; tag: string };
}

export interface Committed {
  imageId: string;
  /** Bytes the new layer adds; 0 when the task changed no file. */
  layerBytes: number;
  /** Whether the commit added a layer to the chain. */
  addedLayer: boolean;
  /** The committed image's layers (diff IDs). */
  layers: string[];
  /** The committed image's labels, as Docker keeps them (the parent's included). */
  labels: Record<string, string>;
  /** Whether the task left processes running in the container (they were paused for the commit). */
  leftRunning: boolean;
}

/**
 * Whether anything but the container's own idle shell runs. Only then can a
 * process change files while they are committed, and only then is the
 * container paused for the commit (freezing and thawing its cgroup costs
 * more than asking). When Docker cannot say, assume the worst.
 */
async function taskLeftProcesses(container: Dockerode.Container): Promise<boolean> {
  try {
    const { Processes } = await container.top();
    return (Processes?.length ?? 2) > 1;
  } catch {
    return true;
  }
}

/** Whether the container's filesystem differs from its image's (what a commit would make a layer of). */
export async function changedFiles(docker: Dockerode, containerId: string): Promise<boolean> {
  const changes = (await dockerCall('reading the build container\'s changes', () => docker.getContainer(containerId).changes())) as unknown[] | null;
  return (changes ?? []).length > 0;
}

export async function commitLayer(docker: Dockerode, parentImageId: string, opts: CommitOptions): Promise<Committed> {
  const container = docker.getContainer(opts.containerId);
  // Podman's Docker-compatible commit ignores a config in the body; both take
  // Dockerfile instructions (`changes`), but those travel in the URL, which
  // long labels could outgrow, so Docker gets the body.
  const [podman, leftRunning] = await Promise.all([isPodman(docker), taskLeftProcesses(container)]);
  const { Id: committedId } = await dockerCall('committing the build container', () =>
    container.commit({
      comment: opts.comment,
      pause: leftRunning,
      ...(opts.reference ?? {}),
      ...(podman ? { changes: labelInstructions(opts.labels) } : { Labels: opts.labels }),
      // The build container's stdin-holding shell must not become the image's.
      OpenStdin: false,
      StdinOnce: false,
      AttachStdin: false,
    }),
  );
  const imageId = fullImageId(committedId);
  const [parent, image] = await Promise.all([
    dockerCall('reading the parent image', () => docker.getImage(parentImageId).inspect()),
    dockerCall('reading the committed image', () => docker.getImage(imageId).inspect()),
  ]);
  const addedLayer = (image.RootFS.Layers ?? []).length > (parent.RootFS.Layers ?? []).length;
  return {
    imageId,
    layerBytes: addedLayer ? image.Size - parent.Size : 0,
    addedLayer,
    layers: image.RootFS.Layers ?? [],
    labels: image.Config?.Labels ?? {},
    leftRunning,
  };
}
