// A host's build containers during one build: the one the next task runs in
// (a worksite), which filesystem it holds, and the host's first container,
// kept up to hold the network every later one joins. The chain decides when
// a task needs a container; this keeps the containers, and removes them all
// when the host is done.

import type { BuildContainer, RuntimeMount, ScratchFiles } from '../docker/containers';
import { FLATTEN_AT } from '../docker/flatten';
import { StrataError } from '../protocol/frames';
import type { Workshop } from './chain-storage';
import type { Logger } from './log';

/** A build container together with the chain link whose filesystem it holds. */
export interface Worksite {
  container: BuildContainer;
  /** Fingerprint of the link the container's filesystem equals, while no task has changed it. */
  holds: string;
}

/** A chain link: its fingerprint and the image it is. */
export interface Link {
  fingerprint: string;
  imageId: string;
}

export interface WorksitesOptions {
  host: string;
  build: string;
  /** The runtime every build container of the host mounts, if any. */
  runtime?: RuntimeMount;
  /** SOURCE_DATE_EPOCH, which the build containers' commands get in their environment. */
  epoch?: number;
  workshop: Workshop;
  log: Logger;
}

export class Worksites {
  private current: Promise<Worksite> | undefined;
  /**
   * The host's first build container. It gets a network namespace (and host
   * name) of its own and then stays up, after its work is committed, to hold
   * them for every later build container of the host, which joins them: a
   * container with a network of its own takes two or three times as long to
   * start, and a host may start dozens. If it fails to start, the task that
   * started it gets the error; everywhere else a failed holder is no holder.
   */
  private networkHolder: Promise<BuildContainer> | undefined;
  /** Docker work running in the background; close() waits for it. */
  private readonly chores = new Set<Promise<void>>();
  /** Files every build container gets in its scratch directory, once the plugin has sent them. */
  private scratchFiles: ScratchFiles | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: WorksitesOptions) {}

  useScratchFiles(files: ScratchFiles): void {
    this.scratchFiles = files;
  }

  /** A build container whose filesystem is `tip`, reusing the current one when it still is. */
  async at(tip: Link): Promise<Worksite> {
    if (this.closing) throw new StrataError('state', `host ${this.opts.host} is done: its build containers are gone`);
    const current = await this.settled();
    if (current && current.holds === tip.fingerprint) return current;
    if (current) this.retire(current.container);
    this.current = this.startAt(tip);
    return this.current;
  }

  /** The container the running task is in. */
  async inUse(): Promise<Worksite | undefined> {
    return this.current;
  }

  /**
   * After a commit that made the container's changes a layer: committing it
   * again would pack them a second time, so the next task gets a fresh
   * container at `tip`, started now, in the background, unless no next
   * task is `expected` (then the next task that comes after all starts
   * one). `leftRunning`: the task left processes running, which must not
   * outlive it.
   */
  async committedLayer(tip: Link, leftRunning = true, expected = true): Promise<void> {
    const old = await this.current;
    if (old && leftRunning && (await this.holdsTheNetwork(old.container))) await this.opts.workshop.stopTaskProcesses(old.container);
    this.current = expected ? this.startAt(tip) : undefined;
    // A failed start is said when the next task needs the container (settled()).
    this.current?.catch(() => undefined);
    if (old) this.retire(old.container);
  }

  /** After a commit that changed no file: the next task reuses the container, but not what this one left running. */
  committedNothing(tip: Link, leftRunning: boolean): void {
    this.current = this.current?.then(async (site) => {
      if (leftRunning) await this.opts.workshop.stopTaskProcesses(site.container);
      return { ...site, holds: tip.fingerprint };
    });
  }

  /** Gives up the current container (its task failed, or the host is done). */
  async drop(): Promise<void> {
    const site = await this.settled();
    this.current = undefined;
    if (!site) return;
    if (!(await this.holdsTheNetwork(site.container))) {
      await this.opts.workshop.removeContainer(site.container.id);
      return;
    }
    await this.opts.workshop.stopTaskProcesses(site.container).catch((err: Error) =>
      this.opts.log.warn('could not stop what a failed task left running', { host: this.opts.host, error: err.message }),
    );
  }

  /** Removes every container of the host, including any still being started or removed; the host is done with containers. */
  close(): Promise<void> {
    this.closing ??= this.removeAll();
    return this.closing;
  }

  private async removeAll(): Promise<void> {
    // The current container may still be starting, for a next task that will
    // not come; it joins the holder's network, so removing the holder cuts its
    // start short, and a start that fails removes its own container.
    const current = this.current?.catch(() => undefined);
    const holder = this.networkHolder?.catch(() => undefined);
    this.current = undefined;
    this.networkHolder = undefined;
    // A removal waits for its container to stop: side by side, the host waits for the slowest, not for their sum.
    const others = Promise.all([current?.then((site) => site && this.opts.workshop.removeContainer(site.container.id)), ...this.chores]);
    await Promise.all([others, holder?.then((container) => container && this.removeHolder(container.id, others))]);
  }

  /** Podman refuses to remove a container that others joined: then the holder goes once `others` have. */
  private async removeHolder(id: string, others: Promise<unknown>): Promise<void> {
    try {
      await this.opts.workshop.removeContainer(id);
    } catch {
      await others.catch(() => undefined);
      await this.opts.workshop.removeContainer(id);
    }
  }

  /** Docker work nothing waits for but close(); a failure is a warning. */
  inBackground(work: Promise<unknown>, failure: string): void {
    const chore = work.then(
      () => undefined,
      (err) => this.opts.log.warn(failure, { host: this.opts.host, error: (err as Error).message }),
    );
    this.chores.add(chore);
    void chore.finally(() => this.chores.delete(chore));
  }

  /** The current container, unless its start failed, which is said here as a warning. */
  private settled(): Promise<Worksite | undefined> | undefined {
    return this.current?.catch((err: Error) => {
      this.opts.log.warn('a build container failed to start', { host: this.opts.host, error: err.message });
      return undefined;
    });
  }

  private async startAt(tip: Link): Promise<Worksite> {
    let imageId = tip.imageId;
    if ((await this.opts.workshop.layerCount(imageId)) >= FLATTEN_AT) {
      this.opts.log.info('flattening a long chain', { host: this.opts.host, fingerprint: tip.fingerprint.slice(0, 12) });
      if (this.opts.epoch !== undefined) {
        // docker export writes files of its own (/.dockerenv, /etc/hosts...) dated now.
        this.opts.log.warn(`past ${FLATTEN_AT} layers the chain is flattened (docker export), so this image will not be reproducible despite SOURCE_DATE_EPOCH`, { host: this.opts.host });
      }
      imageId = await this.opts.workshop.flattened(imageId, tip.fingerprint);
    }
    return { container: await this.startContainer(imageId), holds: tip.fingerprint };
  }

  private startContainer(imageId: string): Promise<BuildContainer> {
    const { host, build, runtime } = this.opts;
    if (!this.scratchFiles) throw new StrataError('state', `host ${host} needs its scratch files (scratch_files) before its first task`);
    // Tools that follow reproducible-builds.org (useradd's password dates, gzip, ...) read the epoch from their environment.
    const env = this.opts.epoch === undefined ? undefined : [`SOURCE_DATE_EPOCH=${this.opts.epoch}`];
    const start = { imageId, host, build, runtime, scratchFiles: this.scratchFiles, env };
    if (!this.networkHolder) {
      const first = this.opts.workshop.startContainer(start);
      this.networkHolder = first.catch((err) => {
        this.networkHolder = undefined;
        throw err;
      });
      // Whoever needs the holder sees the failure; it must not also go unhandled.
      this.networkHolder.catch(() => undefined);
      return first;
    }
    return this.networkHolder.then((holder) => this.opts.workshop.startContainer({ ...start, network: holder.id }));
  }

  /** Removes a build container that is done, unless it holds the host's network. */
  private retire(container: BuildContainer): void {
    const removal = this.holdsTheNetwork(container).then((holds) => (holds ? undefined : this.opts.workshop.removeContainer(container.id)));
    this.inBackground(removal, `could not remove build container ${container.name}`);
  }

  private async holdsTheNetwork(container: BuildContainer): Promise<boolean> {
    const holder = await this.networkHolder?.catch(() => undefined);
    return holder?.id === container.id;
  }
}
