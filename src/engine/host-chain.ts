// One host's chain of layers during one build: where the chain stands, the
// build container (if any), and the task running in it. Hits move the chain
// forward without touching a container; the first miss starts one from the
// chain's tip; each commit becomes the next tip.

import { extendsByOneTask } from '../cache/chain-check';
import { CACHE_REPO, finalImageLabels, FoundEntry } from '../cache/entries';
import { TaskStep } from '../cache/provenance';
import { fingerprint } from '../cache/fingerprint';
import { packValue } from '../cache/stored-value';
import { BaseImage } from '../docker/base-image';
import { RuntimeMount, SCRATCH_DIR, ScratchFiles } from '../docker/containers';
import { ImageConfig } from '../docker/image-config';
import {
  FinishHostReply,
  BuildInputs,
  HitAhead,
  PlainMap,
  StrataError,
  TaskDoneReply,
  TaskDoneRequest,
  TaskReply,
  TaskRequest,
} from '../protocol/frames';
import { EntryStore, Workshop } from './chain-storage';
import { Logger } from './log';
import { TasksAhead } from './tasks-ahead';
import { ENGINE_VERSION } from './version';
import { Worksite, Worksites } from './worksites';

interface Tip {
  fingerprint: string;
  imageId: string;
  /** The image's layers (diff IDs): what the next entry must extend. */
  layers: string[];
}

interface RunningTask {
  fingerprint: string;
  label: string;
  inputs: PlainMap;
  secret: boolean;
  /** Whether later builds can ever meet this link (false after a never-cached task). */
  reusable: boolean;
  /** `_cacheable: false`: every later task of the host runs too, whatever this one changes. */
  invalidates: boolean;
  started: number;
  /** The last build through the same link ended with the task that came here then. */
  lastTaskLastTime: boolean;
}

export interface HostChainOptions {
  host: string;
  build: string;
  base: BaseImage;
  config: ImageConfig;
  tags: string[];
  /** Push the final image's tags (strata_push). */
  push: boolean;
  /** Make the final image one layer over the base (strata_squash). */
  squash: boolean;
  /** The runtime mounted into the host's build containers, whose Python runs the modules. */
  runtime?: RuntimeMount & { id: string };
  /** SOURCE_DATE_EPOCH: no file a task leaves is newer, and the final image is dated then. */
  epoch?: number;
  entries: EntryStore;
  workshop: Workshop;
  log: Logger;
  /** What came after each link in earlier builds on this engine. */
  ahead: TasksAhead;
}

/** The input that names the mounted runtime a task ran with (see withBuildInputs). */
export const MOUNTED_RUNTIME_INPUT = 'mounted_runtime';
/** The input that names the SOURCE_DATE_EPOCH a task's files were clamped to (see withBuildInputs). */
export const EPOCH_INPUT = 'source_date_epoch';

/** What a commit without a result stores. */
const EMPTY_RESULT = packValue({});

/** Most hits one reply tells the plugin of, so a reply stays small and quick to make. */
const HITS_AHEAD = 64;

/** Milliseconds as seconds for a log line. */
function inSeconds(ms: number): number {
  return Number((ms / 1000).toFixed(2));
}

export class HostChain {
  private tip: Tip;
  private position = 0;
  private reusable = true;
  private readonly worksites: Worksites;
  private running: RunningTask | undefined;
  /** Pushes of this host's new entries to the registry cache, in order. */
  private pushes: Promise<void> = Promise.resolve();
  private warnedUnproven = false;
  /** After one fingerprint the registry lacks, so do all later ones of this chain. */
  private askRemote = true;
  /** Why this chain cannot go on: a hit the plugin replayed ahead turned out gone. */
  private broken: StrataError | undefined;
  /** Every task the chain went through, base first: what the final image's provenance and history name. */
  private readonly steps: TaskStep[] = [];
  private readonly started = new Date();

  constructor(private readonly opts: HostChainOptions) {
    this.tip = { fingerprint: opts.base.id, imageId: opts.base.id, layers: opts.base.layers };
    this.worksites = new Worksites(opts);
  }

  get host(): string {
    return this.opts.host;
  }

  get baseId(): string {
    return this.opts.base.id;
  }

  useScratchFiles(files: ScratchFiles): void {
    this.worksites.useScratchFiles(files);
  }

  async task(req: TaskRequest): Promise<TaskReply> {
    if (this.broken) throw this.broken;
    if (this.running) {
      throw new StrataError('state', `host ${this.host} asked for a task while "${this.running.label}" is still running`);
    }
    const reusable = this.reusable && req.cacheable;
    const inputs = this.withBuildInputs(req.inputs);
    const parent = this.tip.fingerprint;
    const fp = fingerprint({ parent, host: this.host, position: this.position, inputs, cacheable: reusable });
    const lastTaskLastTime = this.endedAfter(parent);
    if (req.lookup && reusable) this.rememberAfter(parent, req.digest, fp);
    const hit = req.lookup && reusable ? await this.provenHit(fp, req.label) : undefined;
    if (req.expect) this.checkReplayedAhead(req, fp, hit !== undefined);
    if (hit) {
      this.record(req.label, inputs, fp, true, hit.addedLayer ? hit.layers : undefined);
      this.advance({ fingerprint: fp, imageId: hit.entry.imageId, layers: hit.layers });
      this.worksites.inBackground(this.opts.entries.markUsed(hit.entry.imageId, fp), 'could not mark a cache entry used');
      this.opts.log.info('hit', {
        host: this.host,
        task: req.label,
        fingerprint: fp.slice(0, 12),
        saved_seconds: hit.entry.seconds,
        looked_up: hit.from,
        check_us: hit.checkMicros,
        replayed_ahead: req.expect ? true : undefined,
      });
      // A plugin that sends digests can take hits ahead; one already replaying them has this one's.
      const ahead = req.digest && !req.expect ? this.hitsAhead() : [];
      return { outcome: 'hit', fingerprint: fp, result: hit.result, saved_seconds: hit.entry.seconds, ...(ahead.length ? { ahead } : {}) };
    }
    const asked = Date.now();
    const site = await this.worksites.at(this.tip);
    this.running = { fingerprint: fp, label: req.label, inputs, secret: req.secret, reusable, invalidates: req.invalidates, started: Date.now(), lastTaskLastTime };
    this.opts.log.info('miss', {
      host: this.host,
      task: req.label,
      fingerprint: fp.slice(0, 12),
      container: site.container.name,
      // Time the task waited for its container: what overlapping the container's start failed to hide.
      waited_seconds: inSeconds(Date.now() - asked),
    });
    return { outcome: 'miss', fingerprint: fp, container: site.container.name, scratch: SCRATCH_DIR };
  }

  /** Whether the last build through link `parent` finished with the task that came after it. */
  private endedAfter(parent: string): boolean {
    const previous = this.opts.ahead.after(this.host, parent);
    return previous !== undefined && this.opts.ahead.endedAt(this.host, previous.fingerprint);
  }

  /** Remembers, for later builds, that the task `digest` names came after link `parent`. */
  private rememberAfter(parent: string, digest: string | null | undefined, fp: string): void {
    if (digest) this.opts.ahead.remember(this.host, parent, { digest, fingerprint: fp });
  }

  /**
   * A task the plugin replayed from `ahead` must still be that hit. If it is
   * not (its entry was removed or replaced since), the build has gone on
   * from a result it no longer has: the chain stops here, before any
   * container starts, and every later request of the host gets this error.
   */
  private checkReplayedAhead(req: TaskRequest, fp: string, hit: boolean): void {
    if (hit && fp === req.expect) return;
    this.broken = new StrataError(
      'cache_changed',
      `host ${this.host}: the cache entry of "${req.label}" was removed or replaced during the build (a \`strata prune\`, ` +
        'a `docker rmi`, another build?) after the build had taken it from the cache; no image is tagged. Run the build again.',
    );
    throw this.broken;
  }

  /**
   * The hits that follow the tip, as far as earlier builds show the way and
   * this engine knows the entries without asking Docker: for each, the task
   * that came next last time, its entry, and the proof that the entry
   * extends the one before.
   */
  private hitsAhead(): HitAhead[] {
    const hits: HitAhead[] = [];
    let { fingerprint: parent, layers } = this.tip;
    while (hits.length < HITS_AHEAD) {
      const next = this.opts.ahead.after(this.host, parent);
      if (!next) break;
      const found = this.opts.entries.known(next.fingerprint, parent);
      if (!found || !extendsByOneTask(layers, found.layers)) break;
      hits.push({ digest: next.digest, fingerprint: next.fingerprint, result: found.result, saved_seconds: found.entry.seconds });
      parent = next.fingerprint;
      layers = found.layers;
    }
    return hits;
  }

  /**
   * The task's inputs, with what the engine decides of how it runs: the
   * mounted runtime's ID when its modules run with that Python (a task run
   * with another Python is another task, and `strata explain` says so), and
   * the SOURCE_DATE_EPOCH its files are clamped to (entries made with
   * another epoch, or none, never mix). Without either, the inputs are the
   * plugin's alone, so such tasks keep their fingerprints.
   */
  private withBuildInputs(inputs: PlainMap): PlainMap {
    return {
      ...inputs,
      ...(this.opts.runtime ? { [MOUNTED_RUNTIME_INPUT]: this.opts.runtime.id } : {}),
      ...(this.opts.epoch !== undefined ? { [EPOCH_INPUT]: this.opts.epoch } : {}),
    };
  }

  /** Notes a task the chain went through, and the layers of its entry when it added one (the last). */
  private record(label: string, inputs: PlainMap, fingerprint: string, cached: boolean, layers: string[] | undefined): void {
    this.steps.push({
      position: this.position,
      action: typeof inputs.action === 'string' ? inputs.action : null,
      label,
      fingerprint,
      cached,
      layer: layers ? layers[layers.length - 1] : null,
    });
  }

  async taskDone(req: TaskDoneRequest): Promise<TaskDoneReply> {
    const task = this.running;
    if (!task) throw new StrataError('state', `host ${this.host} reported a task done, but none was running`);
    this.running = undefined;
    const ran = (Date.now() - task.started) / 1000;
    if (req.outcome === 'skip') return { image: null, new_layer: false, layer_bytes: 0, seconds: ran };
    if (req.outcome === 'discard') {
      await this.worksites.drop();
      this.opts.log.info('discarded', { host: this.host, task: task.label });
      return { image: null, new_layer: false, layer_bytes: 0, seconds: ran };
    }
    return this.commit(task, req.result ?? EMPTY_RESULT, ran);
  }

  private async commit(task: RunningTask, result: Uint8Array, ran: number): Promise<TaskDoneReply> {
    const site = await this.worksites.inUse();
    if (!site) throw new StrataError('state', `host ${this.host} has no build container to commit`);
    if (!task.reusable) {
      if (!task.invalidates && !(await this.opts.workshop.changedFiles(site.container))) return this.noLink(task, ran);
      return this.commitOwn(task, site, result, ran);
    }
    // Another build at this very task (on this engine) has committed it, or commits it after this one: never both at once.
    return this.opts.entries.inTurn(task.fingerprint, async () => {
      const first = await this.committedElsewhere(task.fingerprint);
      return first ? this.adopt(task, first, ran) : this.commitOwn(task, site, result, ran);
    });
  }

  private async commitOwn(task: RunningTask, site: Worksite, result: Uint8Array, ran: number): Promise<TaskDoneReply> {
    const committing = Date.now();
    const labels = await this.opts.entries.labels({
      fingerprint: task.fingerprint,
      parent: this.tip.fingerprint,
      host: this.host,
      position: this.position,
      task: task.label,
      result,
      inputs: task.inputs,
      secret: task.secret,
      build: this.opts.build,
      seconds: ran,
    });
    let committed;
    let clamped: number | undefined;
    try {
      if (this.opts.epoch !== undefined) clamped = await this.opts.workshop.clampTimes(site.container, this.opts.epoch);
      const commit = () =>
        this.opts.workshop.commit(site.container.imageId, {
          containerId: site.container.id,
          labels,
          comment: `strata: ${this.host}: ${task.label}`,
          reference: task.reusable ? { repo: CACHE_REPO, tag: task.fingerprint } : undefined,
        });
      committed = task.reusable ? await this.opts.entries.recording(task.fingerprint, commit) : await commit();
      if (task.reusable) this.shareInBackground(committed.imageId, task.fingerprint);
    } catch (err) {
      await this.worksites.drop();
      throw err;
    }
    this.record(task.label, task.inputs, task.fingerprint, false, committed.addedLayer ? committed.layers : undefined);
    this.advance({ fingerprint: task.fingerprint, imageId: committed.imageId, layers: committed.layers });
    this.reusable = task.reusable;
    // An edit of the last task: last time no task came after it, so no container is started for one.
    if (committed.addedLayer) await this.worksites.committedLayer(this.tip, committed.leftRunning, !task.lastTaskLastTime);
    else this.worksites.committedNothing(this.tip, committed.leftRunning);
    this.opts.log.info('committed', {
      host: this.host,
      task: task.label,
      fingerprint: task.fingerprint.slice(0, 12),
      layer_bytes: committed.layerBytes,
      clamped_to_epoch: clamped,
      seconds: inSeconds(Date.now() - task.started),
      commit_seconds: inSeconds(Date.now() - committing),
    });
    return { image: committed.imageId, new_layer: committed.addedLayer, layer_bytes: committed.layerBytes, seconds: ran };
  }

  /**
   * A task that is never cached and changed no file: nothing is kept, and the
   * chain stays where it was, so the tasks after it are the same links as in
   * any other build (DESIGN.md: a task that committed no layer never breaks
   * the chain).
   */
  private noLink(task: RunningTask, ran: number): TaskDoneReply {
    this.worksites.committedNothing(this.tip, true);
    this.opts.log.info('ran, not cached, changed no file: no link', { host: this.host, task: task.label });
    return { image: null, new_layer: false, layer_bytes: 0, seconds: ran };
  }

  /**
   * The entry another build (running beside this one) committed for this
   * very task after this one looked: as good as this build's own, so this
   * chain continues on it, and the two builds leave one chain, not two
   * half-chains whose links do not fit each other.
   */
  private async committedElsewhere(fp: string): Promise<FoundEntry | undefined> {
    const found = await this.opts.entries.lookup(fp, this.tip.fingerprint);
    return found && extendsByOneTask(this.tip.layers, found.layers) ? found : undefined;
  }

  private async adopt(task: RunningTask, first: FoundEntry, ran: number): Promise<TaskDoneReply> {
    const added = first.layers.length > this.tip.layers.length;
    // The task ran in this build (as its summary says), though its layer is the entry's.
    this.record(task.label, task.inputs, task.fingerprint, false, added ? first.layers : undefined);
    this.advance({ fingerprint: task.fingerprint, imageId: first.entry.imageId, layers: first.layers });
    // This container's changes are not in that entry: the next task starts afresh from it.
    await this.worksites.committedLayer(this.tip);
    this.opts.log.info('another build committed the task first; continuing on its entry', { host: this.host, task: task.label, fingerprint: task.fingerprint.slice(0, 12) });
    return { image: first.entry.imageId, new_layer: added, layer_bytes: 0, seconds: ran };
  }

  async finish(inputs?: BuildInputs): Promise<FinishHostReply> {
    if (this.broken) throw this.broken;
    if (this.running) throw new StrataError('state', `host ${this.host} cannot finish while "${this.running.label}" is running`);
    // The final image is made from the tip, not from a container: the host's containers go while it is made.
    const [image] = await Promise.all([this.finalImage(), this.worksites.close()]);
    if (this.reusable) this.opts.ahead.rememberEnd(this.host, this.tip.fingerprint);
    this.opts.log.info('tagged', { host: this.host, image: image.slice(7, 19), tags: this.opts.tags.join(',') });
    if (this.opts.push) await this.opts.workshop.pushTags(this.opts.tags);
    const attested = await this.attest(image, inputs);
    return { image, tags: this.opts.tags, pushed: this.opts.push ? [...this.opts.tags, ...attested] : [] };
  }

  /** Keeps the final image's provenance (and pushes it beside the image); a failure to is said, and costs the image nothing. */
  private async attest(image: string, inputs: BuildInputs | undefined): Promise<string[]> {
    const attestation = {
      host: this.host,
      imageId: image,
      tags: this.opts.tags,
      base: { ref: this.opts.base.ref, id: this.opts.base.id },
      strata: ENGINE_VERSION,
      build: this.opts.build,
      startedOn: this.started,
      epoch: this.opts.epoch,
      squash: this.opts.squash,
      inputs,
      steps: this.steps,
    };
    try {
      return await this.opts.entries.attest(attestation, this.opts.push);
    } catch (err) {
      this.opts.log.warn(`could not keep the provenance of image ${image.slice(7, 19)}: ${(err as Error).message}`, { host: this.host });
      return [];
    }
  }

  private async finalImage(): Promise<string> {
    // A cache that failed to reach the registry is still a good local cache: say so, go on.
    await this.pushes;
    return this.opts.workshop.finalImage({
      fromId: this.tip.imageId,
      fromLayers: this.tip.layers,
      config: this.opts.config,
      base: this.opts.base,
      labels: finalImageLabels(this.host, this.opts.base),
      tags: this.opts.tags,
      squash: this.opts.squash,
      epoch: this.opts.epoch,
      steps: this.steps.map((step) => ({ comment: `strata: ${this.host}: ${step.label}`, addedLayer: step.layer !== null })),
    });
  }

  /**
   * The entry at `fp`, from the index or the registry, if its layers prove
   * it was built on this chain's tip: the tip's layers, or those of the
   * tip's flattened copy, plus at most the one layer of its task. An entry
   * whose labels say more than its layers is a miss, said once as a warning.
   */
  private async provenHit(fp: string, task: string): Promise<(FoundEntry & { checkMicros: number; addedLayer: boolean }) | undefined> {
    const hit = (await this.opts.entries.lookup(fp, this.tip.fingerprint)) ?? (await this.fetchRemote(fp));
    if (!hit) return undefined;
    const started = process.hrtime.bigint();
    let under: string[] | undefined = extendsByOneTask(this.tip.layers, hit.layers) ? this.tip.layers : undefined;
    const checkMicros = Number(process.hrtime.bigint() - started) / 1000;
    if (!under) {
      const flat = await this.opts.workshop.flattenedLayers(this.tip.fingerprint);
      under = flat !== undefined && extendsByOneTask(flat, hit.layers) ? flat : undefined;
    }
    if (under) return { ...hit, checkMicros, addedLayer: hit.layers.length > under.length };
    if (!this.warnedUnproven) {
      this.warnedUnproven = true;
      this.opts.log.warn(
        `cache entry ${fp.slice(0, 12)} ("${task}") is not built on the layers of the entry before it, whatever its labels say ` +
          '(a damaged or planted entry); strata builds the task again and replaces it',
        { host: this.host },
      );
    }
    return undefined;
  }

  /**
   * The entry from the registry cache. Once the registry lacks one link, it
   * lacks every later one of this chain, so it is not asked again; nor after
   * it could not be asked, which is said once, as a warning.
   */
  private async fetchRemote(fingerprint: string): Promise<FoundEntry | undefined> {
    if (!this.askRemote) return undefined;
    let found: FoundEntry | undefined;
    try {
      found = await this.opts.entries.fetch(fingerprint, this.tip.fingerprint);
    } catch (err) {
      this.opts.log.warn(`${(err as Error).message}; this build runs without the registry cache's entries`, { host: this.host });
    }
    if (found) this.opts.log.info('pulled from the registry cache', { host: this.host, fingerprint: fingerprint.slice(0, 12) });
    else this.askRemote = false;
    return found;
  }

  private shareInBackground(imageId: string, fingerprint: string): void {
    this.pushes = this.pushes.then(() =>
      this.opts.entries.share(imageId, fingerprint).catch((err: Error) => {
        this.opts.log.warn(err.message, { host: this.host });
      }),
    );
  }

  /** Removes this host's build containers, including any still being started or removed. */
  async close(): Promise<void> {
    await this.worksites.close();
    await this.pushes;
  }

  private advance(tip: Tip): void {
    this.tip = tip;
    this.position += 1;
  }
}
