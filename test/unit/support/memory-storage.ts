// An in-memory stand-in for Docker and a registry, for unit tests of a host
// chain's logic (src/engine/host-chain.ts). It keeps images (layers and
// labels), tags and containers in maps; a test plays Ansible by marking a
// build container's filesystem changed before the task's commit.

import type { EntryStore, Workshop } from '../../../src/engine/chain-storage';
import { FoundEntry, NewEntry } from '../../../src/cache/entries';
import type { Attestation } from '../../../src/cache/provenance';
import { Turns } from '../../../src/cache/turns';
import { TasksAhead } from '../../../src/engine/tasks-ahead';
import type { BuildContainer, ContainerStart } from '../../../src/docker/containers';
import type { FinalImageSpec } from '../../../src/docker/final-image';
import type { CommitOptions, Committed } from '../../../src/docker/layers';

interface Image {
  id: string;
  layers: string[];
  labels: Record<string, string>;
}

interface Container extends BuildContainer {
  /** Whether the task running in it changed a file: its commit then adds a layer. */
  changed: boolean;
  /** Whether the task left a process running in it. */
  running: boolean;
}

export class MemoryWorld {
  readonly images = new Map<string, Image>();
  /** `repo:tag` to image ID. */
  readonly tags = new Map<string, string>();
  readonly containers = new Map<string, Container>();
  /** The registry cache: fingerprint to image. */
  readonly registry = new Map<string, Image>();
  registryDown = false;
  /** Every container started, in order, with its name. */
  readonly started: (ContainerStart & { name: string })[] = [];
  /** The names of the containers whose task processes were stopped, once per stop. */
  readonly stopped: string[] = [];
  /**
   * While set, container starts wait for it (a slow start). Like Docker's, a
   * start that joins a holder's network fails if the holder is removed first,
   * and leaves no container.
   */
  startGate: Promise<void> | undefined;
  /** The engine's commits, one at a time per task, shared by every chain over this world. */
  readonly turns = new Turns();
  /** The engine's memory of what came after each link, shared by its builds as `turns` is. */
  readonly ahead = new TasksAhead();
  /** The provenance each final image was given, in order. */
  readonly attested: Attestation[] = [];
  /** The epoch each commit's files were clamped to, by container name. */
  readonly clamped: { container: string; epoch: number }[] = [];
  /** Called when a container is removed, by ID. */
  readonly onRemoval = new Map<string, () => void>();
  private next = 0;

  newId(kind: string): string {
    this.next += 1;
    return `${kind}-${this.next}`;
  }

  addImage(layers: string[], labels: Record<string, string> = {}): Image {
    const image = { id: this.newId('image'), layers, labels };
    this.images.set(image.id, image);
    return image;
  }

  /** The image the container `name` was started from. */
  startedFrom(name: string): string | undefined {
    return this.started.find((s) => s.name === name)?.imageId;
  }

  /** Plays a task that changes a file in the container `name`. */
  changeFiles(name: string): void {
    this.container(name).changed = true;
  }

  /** Plays a task that leaves a process running in the container `name`. */
  leaveRunning(name: string): void {
    this.container(name).running = true;
  }

  private container(name: string): Container {
    const container = [...this.containers.values()].find((c) => c.name === name);
    if (!container) throw new Error(`no container ${name}`);
    return container;
  }
}

export class MemoryEntries implements EntryStore {
  constructor(private readonly world: MemoryWorld) {}

  async lookup(fingerprint: string, parent: string): Promise<FoundEntry | undefined> {
    return this.known(fingerprint, parent);
  }

  known(fingerprint: string, parent: string): FoundEntry | undefined {
    const image = this.world.images.get(this.world.tags.get(`strata-cache:${fingerprint}`) ?? '');
    if (!image || image.labels.fingerprint !== fingerprint || image.labels.parent !== parent) return undefined;
    const entry = { fingerprint, parent, host: image.labels.host, position: Number(image.labels.position), task: image.labels.task, imageId: image.id, seconds: 1 };
    return { entry, result: Buffer.from(image.labels.result, 'base64'), layers: image.layers };
  }

  async fetch(fingerprint: string, parent: string): Promise<FoundEntry | undefined> {
    if (this.world.registryDown) throw new Error('could not ask registry.test/cache for cache entries: connection refused');
    const image = this.world.registry.get(fingerprint);
    if (!image) return undefined;
    this.world.images.set(image.id, image);
    this.world.tags.set(`strata-cache:${fingerprint}`, image.id);
    return this.lookup(fingerprint, parent);
  }

  async markUsed(): Promise<void> {}

  async labels(entry: NewEntry): Promise<Record<string, string>> {
    const { fingerprint, parent, host, position, task, result } = entry;
    return { fingerprint, parent, host, position: String(position), task, result: Buffer.from(result).toString('base64') };
  }

  inTurn<T>(fingerprint: string, work: () => Promise<T>): Promise<T> {
    return this.world.turns.take(fingerprint, work);
  }

  recording(_fingerprint: string, commit: () => Promise<Committed>): Promise<Committed> {
    return commit();
  }

  async share(imageId: string, fingerprint: string): Promise<void> {
    this.world.registry.set(fingerprint, this.world.images.get(imageId)!);
  }

  async attest(attestation: Attestation): Promise<string[]> {
    this.world.attested.push(attestation);
    return [];
  }
}

export class MemoryWorkshop implements Workshop {
  constructor(private readonly world: MemoryWorld) {}

  async startContainer(start: ContainerStart): Promise<BuildContainer> {
    if (!this.world.images.has(start.imageId)) throw new Error(`no image ${start.imageId}`);
    if (this.world.startGate) await this.gatedStart(this.world.startGate, start.network);
    const id = this.world.newId('container');
    const container = { id, name: `strata-${start.host}-${id}`, imageId: start.imageId, shell: start.runtime?.shell ?? '/bin/sh', changed: false, running: false };
    this.world.containers.set(id, container);
    this.world.started.push({ ...start, name: container.name });
    return container;
  }

  async stopTaskProcesses(stopping: BuildContainer): Promise<void> {
    const container = this.world.containers.get(stopping.id);
    if (container) container.running = false;
    this.world.stopped.push(stopping.name);
  }

  private gatedStart(gate: Promise<void>, network: string | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      void gate.then(resolve);
      if (network) this.world.onRemoval.set(network, () => reject(new Error(`cannot join network of a non running container: ${network}`)));
    });
  }

  async removeContainer(id: string): Promise<void> {
    this.world.containers.delete(id);
    this.world.onRemoval.get(id)?.();
  }

  async changedFiles(container: BuildContainer): Promise<boolean> {
    return this.world.containers.get(container.id)!.changed;
  }

  async commit(parentImageId: string, opts: CommitOptions): Promise<Committed> {
    const container = this.world.containers.get(opts.containerId)!;
    const parent = this.world.images.get(parentImageId)!;
    const layers = container.changed ? [...parent.layers, this.world.newId('layer')] : parent.layers;
    const image = this.world.addImage(layers, opts.labels);
    if (opts.reference) this.world.tags.set(`${opts.reference.repo}:${opts.reference.tag}`, image.id);
    const addedLayer = container.changed;
    container.changed = false;
    return { imageId: image.id, layerBytes: addedLayer ? 10 : 0, addedLayer, layers, labels: image.labels, leftRunning: container.running };
  }

  async clampTimes(container: BuildContainer, epoch: number): Promise<number> {
    this.world.clamped.push({ container: container.name, epoch });
    return 1;
  }

  async layerCount(imageId: string): Promise<number> {
    return this.world.images.get(imageId)!.layers.length;
  }

  async flattened(imageId: string, fingerprint: string): Promise<string> {
    const known = this.world.tags.get(`strata-flat:${fingerprint}`);
    if (known) return known;
    const flat = this.world.addImage([this.world.newId('flat-layer')], this.world.images.get(imageId)!.labels);
    this.world.tags.set(`strata-flat:${fingerprint}`, flat.id);
    return flat.id;
  }

  async flattenedLayers(fingerprint: string): Promise<string[] | undefined> {
    return this.world.images.get(this.world.tags.get(`strata-flat:${fingerprint}`) ?? '')?.layers;
  }

  async finalImage(spec: FinalImageSpec): Promise<string> {
    const image = this.world.addImage(this.world.images.get(spec.fromId)!.layers, spec.labels);
    for (const tag of spec.tags) this.world.tags.set(tag, image.id);
    return image.id;
  }

  async pushTags(): Promise<void> {}
}
