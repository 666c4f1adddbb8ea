// Where a host chain does its work in Docker: the build containers tasks run
// in, the commits that make them layers, the flattened copies that keep long
// chains under overlay2's layer limit, and the final image. The chain decides
// what to do (src/engine/host-chain.ts); this says how, in Docker.

import type Dockerode from 'dockerode';
import { BuildContainer, ContainerStart, removeContainer, startBuildContainer, stopTaskProcesses } from './containers';
import { buildFinalImage, FinalImageSpec } from './final-image';
import { flattenedImage, flattenedLayers, layerCount } from './flatten';
import { changedFiles, commitLayer, CommitOptions, Committed } from './layers';
import { pushTags } from './registry';
import { clampChangedFiles } from './timestamps';

export class DockerWorkshop {
  constructor(private readonly docker: Dockerode) {}

  startContainer(start: ContainerStart): Promise<BuildContainer> {
    return startBuildContainer(this.docker, start);
  }

  stopTaskProcesses(container: BuildContainer): Promise<void> {
    return stopTaskProcesses(this.docker, container);
  }

  removeContainer(id: string): Promise<void> {
    return removeContainer(this.docker, id);
  }

  changedFiles(container: BuildContainer): Promise<boolean> {
    return changedFiles(this.docker, container.id);
  }

  commit(parentImageId: string, opts: CommitOptions): Promise<Committed> {
    return commitLayer(this.docker, parentImageId, opts);
  }

  clampTimes(container: BuildContainer, epoch: number): Promise<number> {
    return clampChangedFiles(this.docker, container.id, epoch);
  }

  layerCount(imageId: string): Promise<number> {
    return layerCount(this.docker, imageId);
  }

  /** A one-layer copy of `imageId`, the chain link `fingerprint`, made once and kept. */
  flattened(imageId: string, fingerprint: string): Promise<string> {
    return flattenedImage(this.docker, imageId, fingerprint);
  }

  /** The layers of the flattened copy of link `fingerprint`, if one was made. */
  flattenedLayers(fingerprint: string): Promise<string[] | undefined> {
    return flattenedLayers(this.docker, fingerprint);
  }

  finalImage(spec: FinalImageSpec): Promise<string> {
    return buildFinalImage(this.docker, spec);
  }

  pushTags(tags: string[]): Promise<void> {
    return pushTags(this.docker, tags);
  }
}
