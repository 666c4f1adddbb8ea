// One build: one connection from one ansible-playbook run. It holds a chain
// per image host and answers the requests of docs/PROTOCOL.md. Requests for
// the same host run one after another; different hosts run side by side.

import { randomBytes } from 'node:crypto';
import type Dockerode from 'dockerode';
import { resolveBaseImage } from '../docker/base-image';
import { dockerCall, isPodman } from '../docker/client';
import { checkScratchFiles, isOwnBuildContainer, removeBuildContainers, runCommand } from '../docker/containers';
import { parseImageConfig } from '../docker/image-config';
import { checkBaseReference, checkImageTags } from '../docker/reference';
import { checkClampable, parseSourceDateEpoch } from '../docker/timestamps';
import {
  ConnectionPurpose,
  ExecReply,
  ExecRequest,
  HelloReply,
  OpenHostReply,
  OpenHostRequest,
  PROTOCOL_VERSION,
  PYTHON_USES,
  PythonChoice,
  Request,
  StrataError,
} from '../protocol/frames';
import { DockerEntryStore } from '../cache/entry-store';
import { HostIndexes } from '../cache/image-events';
import { DockerWorkshop } from '../docker/workshop';
import { MountedRuntime, mountedRuntime } from '../docker/runtime';
import { HostChain } from './host-chain';
import { buildLogger, Logger } from './log';
import { EngineSettings } from './settings';
import { TasksAhead } from './tasks-ahead';
import { ENGINE_VERSION } from './version';

export type ReplyPayload = Record<string, unknown>;

export class Build {
  readonly id = randomBytes(6).toString('hex');
  private greeted = false;
  private purpose: ConnectionPurpose = 'build';
  private readonly hosts = new Map<string, HostChain>();
  private readonly opened = new Map<string, OpenHostReply>();
  private readonly queues = new Map<string, Promise<unknown>>();
  private ended: Promise<number> | undefined;
  /** Warnings about this build not yet sent to it. */
  private readonly said: string[] = [];
  private readonly buildLog: Logger;

  private readonly workshop: DockerWorkshop;

  constructor(
    private readonly docker: Dockerode,
    private readonly settings: EngineSettings,
    private readonly indexes: HostIndexes,
    private readonly log: Logger,
    private readonly ahead: TasksAhead,
  ) {
    this.workshop = new DockerWorkshop(docker);
    this.buildLog = buildLogger(log, this.said);
  }

  /** Answers one request, after any earlier request for the same host. */
  handle(req: Request): Promise<ReplyPayload> {
    const key = 'host' in req ? req.host : '';
    const previous = this.queues.get(key) ?? Promise.resolve();
    // The previous request's failure was its own reply; this one runs regardless.
    const next = previous.catch(() => undefined).then(() => this.timed(req)).then((reply) => this.withWarnings(reply));
    this.queues.set(key, next);
    return next;
  }

  /** The reply, with the warnings said since the last one (see buildLogger). */
  private withWarnings(reply: ReplyPayload): ReplyPayload {
    const said = this.said.splice(0);
    return said.length ? { ...reply, warnings: said } : reply;
  }

  /** dispatch, with a debug line when each request arrives and when it is answered. */
  private async timed(req: Request): Promise<ReplyPayload> {
    const fields = { build: this.id, request: req.type, host: 'host' in req ? req.host : undefined };
    this.log.debug('request', fields);
    const started = process.hrtime.bigint();
    try {
      return await this.dispatch(req);
    } finally {
      this.log.debug('answered', { ...fields, ms: Number((Number(process.hrtime.bigint() - started) / 1e6).toFixed(1)) });
    }
  }

  private async dispatch(req: Request): Promise<ReplyPayload> {
    if (req.type === 'hello') return { ...(await this.hello(req.protocol, req.client, req.purpose ?? 'build')) };
    if (!this.greeted) throw new StrataError('bad_frame', `the first request must be "hello", not "${req.type}"`);
    if (req.type === 'exec') return { ...(await this.exec(req)) };
    if (this.purpose === 'exec') throw new StrataError('state', `a connection that said hello for exec sends only exec, not "${req.type}"`);
    switch (req.type) {
      case 'open_host':
        return { ...(await this.openHost(req)) };
      case 'scratch_files':
        this.chain(req.host).useScratchFiles(checkScratchFiles(req.host, req.files));
        return {};
      case 'task':
        return { ...(await this.chain(req.host).task(req)) };
      case 'task_done':
        return { ...(await this.chain(req.host).taskDone(req)) };
      case 'finish_host':
        return { ...(await this.chain(req.host).finish(req.provenance ?? undefined)) };
      case 'end_build':
        return { containers_left: await this.end() };
    }
  }

  /** Whether the connection is a build (its end ends one), not one that only runs commands for a worker. */
  get isBuild(): boolean {
    return this.purpose === 'build';
  }

  private async hello(protocol: number, client: string, purpose: ConnectionPurpose): Promise<HelloReply> {
    if (protocol !== PROTOCOL_VERSION) {
      throw new StrataError(
        'protocol_mismatch',
        `the plugin speaks strata protocol ${protocol} but this engine (${ENGINE_VERSION}) speaks ${PROTOCOL_VERSION}; ` +
          'use the plugin and engine from the same strata release (`eval "$(npx strata env)"` picks the matching plugin).',
      );
    }
    this.purpose = purpose;
    this.greeted = true;
    if (this.isBuild) {
      await dockerCall('checking that Docker runs', () => this.docker.ping());
      this.log.info('build started', { build: this.id, client });
    }
    return { protocol: PROTOCOL_VERSION, engine: ENGINE_VERSION, docker_host: this.settings.dockerHost };
  }

  private async openHost(req: OpenHostRequest): Promise<OpenHostReply> {
    const config = parseImageConfig(req.host, req.config);
    const tags = checkImageTags(req.host, req.tags);
    const baseRef = checkBaseReference(req.host, req.base);
    const python = checkPythonChoice(req.host, req.python as unknown as Record<string, unknown>);
    const epoch = parseSourceDateEpoch(req.host, req.source_date_epoch);
    const existing = this.opened.get(req.host);
    if (existing) return existing;
    this.settings.sealing.check();
    const base = await resolveBaseImage(this.docker, req.host, baseRef);
    if (epoch !== undefined) await checkClampable(this.docker, req.host, req.source_date_epoch!.from, base.id);
    const { runtime, imageShell } = await this.runtimeFor(base.id, python);
    const entries = new DockerEntryStore(this.docker, req.host, this.settings, this.indexes);
    this.hosts.set(
      req.host,
      new HostChain({ host: req.host, build: this.id, base, config, tags, push: req.push, squash: req.squash, runtime, epoch, entries, workshop: this.workshop, log: this.buildLog, ahead: this.ahead }),
    );
    this.log.info('host opened', { host: req.host, base: req.base, base_id: base.id.slice(7, 19), runtime: runtime?.id ?? null, source_date_epoch: epoch ?? null, index_kept: entries.indexKept });
    const reply = { base_id: base.id, runtime: runtime ? { python: runtime.python, shell: runtime.shell, image_shell: imageShell } : null };
    this.opened.set(req.host, reply);
    return reply;
  }

  /** The runtime the host's modules run with: the image's Python (none here), or the mounted one. */
  private async runtimeFor(baseId: string, python: PythonChoice): Promise<{ runtime?: MountedRuntime; imageShell: boolean }> {
    if (python.use === 'image') return { imageShell: true };
    const tools = await this.settings.baseTools.tools(this.docker, baseId, python.interpreter);
    if (python.use === 'auto' && tools.python) return { imageShell: tools.shell };
    if (await isPodman(this.docker)) {
      throw new StrataError(
        'bad_config',
        `strata cannot mount its Python runtime through Podman yet, and the base image has no ${python.interpreter}` +
          `${python.use === 'mounted' ? ' (or strata_python: mounted asks for the mounted one)' : ''}: build this host with Docker, or from a base with Python`,
      );
    }
    return { runtime: await mountedRuntime(this.docker, this.settings.runtimeFrom, this.log), imageShell: tools.shell };
  }

  /** A worker's command, run only where a task's miss said: in a build container of this engine. */
  private async exec(req: ExecRequest): Promise<ExecReply> {
    if (!isOwnBuildContainer(req.container)) {
      throw new StrataError('unknown_container', `${JSON.stringify(req.container)} is not a build container of this engine: exec runs commands only where a task's miss said`);
    }
    const doing = `running a command in build container ${req.container}`;
    const run = await runCommand(this.docker, req.container, req.command, req.user ?? null, req.stdin, doing);
    return { exit_code: run.exitCode, stdout: run.stdout, stderr: run.stderr };
  }

  private chain(host: string): HostChain {
    const chain = this.hosts.get(host);
    if (!chain) throw new StrataError('unknown_host', `host ${host} was not opened in this build (send open_host first)`);
    return chain;
  }

  /** Ends the build when its connection closes: waits for running requests, then removes every container it made. */
  async close(): Promise<void> {
    // A request that failed was answered with its error; here it only has to be over.
    await Promise.all([...this.queues.values()].map((q) => q.catch(() => undefined)));
    await this.end();
  }

  /**
   * Closes every host and removes the build's containers; what is left over
   * (none, unless Docker refused) is counted. The plugin asks for it before it
   * exits, so nothing of the build outlives ansible-playbook, even when the
   * engine does (a shared or per-user one).
   */
  private end(): Promise<number> {
    this.ended ??= this.isBuild ? this.removeEverything() : Promise.resolve(0);
    return this.ended;
  }

  private async removeEverything(): Promise<number> {
    const warn = (what: string) => (err: Error) => {
      this.log.warn(what, { build: this.id, error: err.message });
      return 0;
    };
    await Promise.all([...this.hosts.values()].map((h) => h.close().catch(warn(`could not close host ${h.host}`))));
    const leftovers = await removeBuildContainers(this.docker, this.id).catch(warn('could not remove the build containers'));
    this.log.info('build ended', { build: this.id, containers_left: leftovers });
    return leftovers;
  }
}

/** strata_python as the plugin sent it, checked. */
function checkPythonChoice(host: string, python: Record<string, unknown>): PythonChoice {
  const { use, interpreter } = python;
  if (typeof use !== 'string' || !(PYTHON_USES as readonly string[]).includes(use)) {
    throw new StrataError('bad_config', `host ${host}: strata_python must be one of ${PYTHON_USES.join(', ')}, not ${JSON.stringify(use)}`);
  }
  if (typeof interpreter !== 'string' || !interpreter.trim()) {
    throw new StrataError('bad_frame', `host ${host}: open_host's python.interpreter must be the interpreter path Ansible would use`);
  }
  return { use, interpreter };
}
