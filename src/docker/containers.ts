// Build containers: where a task that missed the cache runs. Each one's name
// says which engine and which build own it, so that whatever ends a build
// (success, failure, a closed connection, a killed engine) the containers can
// be found and removed. Names rather than labels: a container's labels would
// be committed into every layer.

import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import { StrataError } from '../protocol/frames';
import { dockerCall, isPodman } from './client';
import { CommandRun, runToEnd } from './exec';
import { AGENT_BOOTSTRAP, AGENT_SOURCE, ExecAgent, READY_PREFIX, ReadyAs } from './exec-agent';

const PREFIX = 'strata-build';

/**
 * A scratch directory in every build container that is never committed: a
 * tmpfs under /dev, whose mount point lives in Docker's own /dev tmpfs rather
 * than in the container's layer. Ansible's temporary files go there, so a
 * task that changes nothing else leaves no layer behind.
 */
export const SCRATCH_DIR = '/dev/strata';

/** Where build containers see the mounted runtime (src/docker/runtime.ts), under /dev for the same reason. */
export const RUNTIME_DIR = '/dev/strata-runtime';

/** This machine, short; with the pid it names the engine that owns a container. */
const MACHINE = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

/** Files (name: text) written into the scratch directory of every build container. */
export type ScratchFiles = { [name: string]: string };

const SCRATCH_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The scratch files an open_host asked for, checked: plain names, text content. */
export function checkScratchFiles(host: string, files: Record<string, unknown>): ScratchFiles {
  for (const [name, text] of Object.entries(files)) {
    if (!SCRATCH_FILE_NAME.test(name) || typeof text !== 'string') {
      throw new StrataError('bad_frame', `host ${host}: scratch file ${JSON.stringify(name)} needs a plain file name and text content`);
    }
  }
  return files as ScratchFiles;
}

export interface BuildContainer {
  id: string;
  name: string;
  /** The image the container was created from. */
  imageId: string;
  /** The shell strata's own commands in the container run with. */
  shell: string;
}

/** The image's own shell, which every image that runs Ansible's modules itself has. */
export const IMAGE_SHELL = '/bin/sh';

/** A mounted runtime as a build container sees it (src/docker/runtime.ts). */
export interface RuntimeMount {
  volume: string;
  /** Its shell, which then runs strata's own commands in the container. */
  shell: string;
  /** Runs Python through the runtime's own loader, on any libc or none. */
  python: string;
}

/** A container-name-safe (and hostname-safe) form of an inventory host name. */
export function safeName(host: string): string {
  const cleaned = host.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '');
  return (cleaned || 'host').slice(0, 40);
}

function containerName(build: string, host: string): string {
  return `${PREFIX}-${MACHINE}-${process.pid}-${build}-${safeName(host)}-${randomBytes(3).toString('hex')}`;
}

/** The name of a container this engine makes for itself, not for one build: removed when the engine ends, or after it died. */
export function engineContainerName(purpose: string): string {
  return containerName('0', purpose);
}

interface Owner {
  machine: string;
  pid: number;
  build: string;
}

function ownerOf(name: string): Owner | undefined {
  const match = new RegExp(`^/?${PREFIX}-([0-9a-f]{8})-(\\d+)-([0-9a-f]+)-`).exec(name);
  return match ? { machine: match[1], pid: Number(match[2]), build: match[3] } : undefined;
}

/** Whether `name` is that of a build container this engine process made. */
export function isOwnBuildContainer(name: string): boolean {
  const owner = ownerOf(name);
  return owner !== undefined && owner.machine === MACHINE && owner.pid === process.pid;
}

/**
 * Creates and starts a container from `imageId` that stays up doing nothing
 * (a shell waiting on an open stdin, which every image that can run Ansible
 * modules has), so Ansible can exec tasks into it. With `network`, it joins
 * that container's network namespace (and host name) instead of getting its
 * own, which makes starting it several times faster.
 */
export interface ContainerStart {
  imageId: string;
  host: string;
  build: string;
  /** A container whose network namespace (and host name) to join. */
  network?: string;
  scratchFiles: ScratchFiles;
  runtime?: RuntimeMount;
  /** Variables (NAME=value) the container's commands get, over the image's. */
  env?: string[];
}

/**
 * Each build container's shell waits on a stdin that the engine which started
 * it holds open (an attached stream, with StdinOnce). When that engine ends,
 * however it ends (killed, out of memory, its machine gone), Docker closes
 * the stdin, the shell reads its end and exits, and Docker removes the
 * container (AutoRemove): no container outlives its engine. Podman's
 * Docker-compatible attach differs; there the containers wait for the next
 * engine on this machine to remove them.
 */
const lifelines = new Map<string, NodeJS.ReadWriteStream>();

/** The exec agents of build containers whose Python runs one (see exec_agent.py), by container ID and by name. */
const agents = new Map<string, ExecAgent>();

export async function startBuildContainer(docker: Dockerode, opts: ContainerStart): Promise<BuildContainer> {
  const name = containerName(opts.build, opts.host);
  const tied = !(await isPodman(docker));
  const files = opts.scratchFiles;
  const shell = opts.runtime?.shell ?? IMAGE_SHELL;
  const container = await dockerCall(`creating build container ${name}`, () =>
    docker.createContainer({
      name,
      Image: opts.imageId,
      Entrypoint: [],
      // Tied, the shell writes the scratch files itself, says it is ready on
      // the attached stdout (one request fewer than an exec), and becomes the
      // exec agent, or waits itself.
      Cmd: tied ? [shell, '-c', startScript(files, shell, opts.runtime), 'strata', ...Object.values(files)] : [shell],
      Env: opts.env,
      OpenStdin: true,
      StdinOnce: tied,
      Hostname: opts.network ? undefined : safeName(opts.host),
      HostConfig: {
        Tmpfs: { [SCRATCH_DIR]: 'rw,exec,mode=1777' },
        Mounts: opts.runtime ? [{ Type: 'volume', Source: opts.runtime.volume, Target: RUNTIME_DIR, ReadOnly: true }] : undefined,
        NetworkMode: opts.network ? `container:${opts.network}` : undefined,
        AutoRemove: tied,
      },
    }),
  );
  const made = { id: container.id, name, imageId: opts.imageId, shell };
  try {
    const lifeline = tied ? await holdStdin(docker, container, name) : undefined;
    await dockerCall(`starting build container ${name}`, () => container.start());
    if (lifeline) await lifeline.ready;
    else await placeScratchFiles(docker, made, files);
  } catch (err) {
    await removeContainer(docker, container.id);
    throw err;
  }
  return made;
}

/**
 * Writes the scratch files, then, as root with a Python (the runtime's, or
 * the image's), says the exec agent is ready and becomes it: requests sent
 * while Python starts wait in the pipe. Otherwise the shell says it is ready
 * itself and waits. The engine then sends the agent's source on stdin.
 */
function startScript(files: ScratchFiles, shell: string, runtime?: RuntimeMount): string {
  const python = runtime ? runtime.python : '$(command -v python3)';
  return (
    `${scratchScript(files)}py=${python}; uid=; ` +
    // Without `id`, which not every image has: the shell's own status.
    'while read -r key value rest; do if [ "$key" = Uid: ]; then uid=$value; break; fi; done < /proc/self/status; ' +
    `if [ "$uid" = 0 ] && [ -n "$py" ]; then echo ${READY_PREFIX}agent && exec "$py" -E -s -B -c '${AGENT_BOOTSTRAP}'; fi; ` +
    `echo ${READY_PREFIX}shell && exec ${shell}`
  );
}

/** `sh -c` commands writing each scratch file from its positional argument ($1, $2...). */
function scratchScript(files: ScratchFiles): string {
  return Object.keys(files)
    .map((file, i) => `printf '%s' "$${i + 1}" > ${SCRATCH_DIR}/${file} && chmod 755 ${SCRATCH_DIR}/${file} && `)
    .join('');
}

/**
 * Attaches the container's lifeline (its stdin, and its output). `ready`
 * settles once the started container says it is ready, or failed, with what
 * it said. When the exec agent said so, it takes the lifeline's output from
 * there on, and runs the container's commands (runCommand).
 */
async function holdStdin(docker: Dockerode, container: Dockerode.Container, name: string): Promise<{ ready: Promise<void> }> {
  const lifeline = (await dockerCall(`attaching to build container ${name}`, () =>
    container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true }),
  )) as NodeJS.ReadWriteStream;
  lifelines.set(container.id, lifeline);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  docker.modem.demuxStream(lifeline, stdout, stderr);
  const said = new LastWords();
  stderr.on('data', (chunk: Buffer) => said.add(chunk));
  const ready = new Promise<void>((resolve, reject) => {
    let before = Buffer.alloc(0);
    const untilReady = (chunk: Buffer) => {
      said.add(chunk);
      before = Buffer.concat([before, chunk]);
      const line = readyLine(before);
      if (!line) return;
      stdout.off('data', untilReady);
      if (line.as === 'agent') {
        lifeline.write(AGENT_SOURCE);
        const agent = new ExecAgent(lifeline, name);
        agents.set(container.id, agent).set(name, agent);
        stdout.on('data', (more: Buffer) => agent.replies.push(more));
        agent.replies.push(before.subarray(line.end));
        const stopped = () => agent.end(`stopped${said.text() ? `: ${said.text()}` : ''}`);
        lifeline.on('end', stopped);
        lifeline.on('close', stopped);
      }
      resolve();
    };
    stdout.on('data', untilReady);
    const failed = () =>
      reject(new StrataError('docker_error', `build container ${name} stopped before it was ready${said.text() ? `: ${said.text()}` : ''}; ${NEEDS_SHELL}`));
    // A broken lifeline means the container (or Docker) is gone: the next request on it says so.
    lifeline.on('error', failed);
    lifeline.on('end', failed);
  });
  // Once ready, a broken lifeline is said by the next request on the container.
  ready.catch(() => undefined);
  return { ready };
}

/** The container's "ready" line in what it printed so far: as what, and where what follows it starts. */
function readyLine(printed: Buffer): { as: ReadyAs; end: number } | undefined {
  const at = printed.indexOf(READY_PREFIX);
  const newline = at < 0 ? -1 : printed.indexOf('\n', at);
  if (newline < 0) return undefined;
  const as = printed.subarray(at + READY_PREFIX.length, newline).toString('utf8');
  return { as: as === 'agent' ? 'agent' : 'shell', end: newline + 1 };
}

/** The last of what a container printed, as text for an error message. */
class LastWords {
  private said = '';
  add(chunk: Buffer): void {
    this.said = (this.said + chunk.toString('utf8')).slice(-2000);
  }
  text(): string {
    return this.said.trim();
  }
}

/**
 * Writes the scratch files with the container's own shell, and waits for it:
 * the tmpfs exists only once the container runs, where the archive API
 * cannot reach it. (Podman's containers, which are not tied to the engine.)
 */
async function placeScratchFiles(docker: Dockerode, made: BuildContainer, files: ScratchFiles): Promise<void> {
  const names = Object.keys(files);
  if (names.length === 0) return;
  const script = `${scratchScript(files)}exit 0`;
  const { code, said } = await runShell(docker, made, `preparing build container ${made.name}`, [script, 'strata', ...Object.values(files)]);
  if (code !== 0) {
    throw new StrataError('docker_error', `could not write strata's scratch files into build container ${made.name} (exit ${code}): ${said.trim()}; ${NEEDS_SHELL}`);
  }
}

const NEEDS_SHELL = 'the image needs /bin/sh, or strata_python: mounted to bring a shell with the mounted runtime';

/**
 * Ends every process a task started in a build container that stays up
 * (the one holding the host's network, or one the next task reuses), as a
 * `docker build` step ends with its RUN: nothing a task starts outlives it.
 * Only the container's own idle shell, its PID 1, is left.
 */
export async function stopTaskProcesses(docker: Dockerode, container: BuildContainer): Promise<void> {
  // kill -1 signals every process but PID 1 and the caller.
  const { code, said } = await runShell(docker, container, `stopping the processes of the last task in ${container.name}`, [
    'kill -9 -1 2>/dev/null; exit 0',
  ]);
  if (code !== 0) throw new StrataError('docker_error', `could not stop the last task's processes in ${container.name} (exit ${code}): ${said.trim()}`);
}

/**
 * Runs `command` in a running build container (ID or name) to its end, with `stdin` as
 * its whole input: through the container's exec agent when it has one, else
 * as a `docker exec`.
 */
export function runCommand(docker: Dockerode, container: string, command: string[], user: string | null, stdin: Uint8Array, doing: string): Promise<CommandRun> {
  const agent = agents.get(container);
  return agent ? agent.run(command, user, stdin) : runToEnd(docker.getContainer(container), command, user, stdin, doing);
}

/** Runs `SHELL -c ARGS...` as root in a running container, to its end; what it said, stdout then stderr. */
async function runShell(docker: Dockerode, container: BuildContainer, doing: string, args: string[]): Promise<{ code: number; said: string }> {
  const run = await runCommand(docker, container.id, [container.shell, '-c', ...args], '0', new Uint8Array(), doing);
  return { code: run.exitCode, said: `${run.stdout.toString('utf8')}${run.stderr.toString('utf8')}` };
}

/** Removes a container whatever its state; one that is already gone is fine. */
export async function removeContainer(docker: Dockerode, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: true });
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    // 404: already gone; 409: removal already in progress.
    if (status !== 404 && status !== 409) throw err;
  } finally {
    lifelines.get(id)?.end();
    lifelines.delete(id);
    const agent = agents.get(id);
    agent?.end('was removed');
    agents.delete(id);
    if (agent) agents.delete(agent.containerName);
  }
}

async function removeOwned(docker: Dockerode, owned: (owner: Owner) => boolean): Promise<number> {
  const found = await docker.listContainers({ all: true, filters: { name: [PREFIX] } });
  const doomed = found.filter((c) => c.Names.some((n) => {
    const owner = ownerOf(n);
    return owner !== undefined && owned(owner);
  }));
  await Promise.all(doomed.map((c) => removeContainer(docker, c.Id)));
  return doomed.length;
}

/** Removes every container of one build. */
export function removeBuildContainers(docker: Dockerode, build: string): Promise<number> {
  return removeOwned(docker, (o) => o.machine === MACHINE && o.pid === process.pid && o.build === build);
}

/** Removes every container this engine process made. */
export function removeEngineContainers(docker: Dockerode): Promise<number> {
  return removeOwned(docker, (o) => o.machine === MACHINE && o.pid === process.pid);
}

/** Whether a process with this ID runs (EPERM: it does, as another user's). */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes build containers left by engines on this machine that no longer
 * run (an engine killed with SIGKILL cannot clean up after itself).
 */
export function removeOrphanContainers(docker: Dockerode): Promise<number> {
  return removeOwned(docker, (o) => o.machine === MACHINE && o.pid !== process.pid && !processIsAlive(o.pid));
}
