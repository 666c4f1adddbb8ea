// What the end-to-end tests share: running the real ansible-playbook with the
// environment `strata env` prints, and looking at what Docker really holds.

import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync, SpawnSyncReturns } from 'node:child_process';
import { Agent } from 'node:http';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Dockerode from 'dockerode';
import { stringify } from 'yaml';
import { CACHE_REPO, LABEL } from '../../src/cache/entries';
import { PROVENANCE_REPO } from '../../src/cache/provenance-store';
import { safeName } from '../../src/docker/containers';
import { PACKAGE_ROOT } from '../../src/engine/version';

export const ROOT = PACKAGE_ROOT;
export const STRATA = join(ROOT, 'bin', 'strata.js');
export const BASE_IMAGE = 'strata-base:bookworm';
/**
 * The Debian image the tests have strata make its mounted runtime in: no
 * registry can be pulled from here, so `make setup` builds it
 * (scripts/setup-bare-bases.sh) under strata's own name. Every process a test
 * starts inherits it, unless the shell running the tests names another.
 */
export const RUNTIME_FROM = 'strata-base:bookworm-slim';
process.env.STRATA_RUNTIME_FROM ||= RUNTIME_FROM;
// No kept-alive connections: a test blocks in spawnSync for minutes at a time,
// and a pooled socket Docker closed meanwhile would fail the next request (EPIPE).
export const docker = new Dockerode({ agent: new Agent({ keepAlive: false }) } as Dockerode.DockerOptions);

export interface Run {
  code: number;
  out: string;
  seconds: number;
}

/** A name no other test run uses, so each test starts its own cache chain. */
export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

const temporaryDirs: string[] = [];
process.once('exit', () => temporaryDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A copy of a folder of the repository in a fresh temporary directory, removed when the tests end. */
export function copyProject(relative: string): string {
  const parent = mkdtempSync(join(tmpdir(), 'strata-e2e-'));
  temporaryDirs.push(parent);
  const dir = join(parent, 'project');
  cpSync(join(ROOT, relative), dir, { recursive: true });
  return dir;
}

export function writeInventory(dir: string, groups: Record<string, Record<string, Record<string, unknown>>>): void {
  const children = Object.fromEntries(Object.entries(groups).map(([group, hosts]) => [group, { hosts }]));
  writeFileSync(join(dir, 'inventory.yml'), stringify({ all: { children } }));
}

function finish(result: SpawnSyncReturns<string>, started: number): Run {
  return { code: result.status ?? -1, out: `${result.stdout ?? ''}${result.stderr ?? ''}`, seconds: (Date.now() - started) / 1000 };
}

/** The bash command line and environment of playbook(). */
function playbookCommand(dir: string, args: string[], env: Record<string, string>, stock: boolean) {
  const setup = stock ? '' : `eval "$(node ${JSON.stringify(STRATA)} env)" && `;
  const script = `${setup}exec ansible-playbook -i inventory.yml site.yml "$@"`;
  return {
    argv: ['-c', script, 'bash', ...args],
    options: { cwd: dir, env: { ...process.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0', ANSIBLE_RETRY_FILES_ENABLED: '0', ...env } },
  };
}

/**
 * Runs ansible-playbook in `dir` the way the README tells a user to: in a
 * shell that has evaluated `strata env`; with `stock`, stock Ansible alone.
 */
export function playbook(dir: string, args: string[] = [], env: Record<string, string> = {}, stock = false): Run {
  const started = Date.now();
  const { argv, options } = playbookCommand(dir, args, env, stock);
  return finish(spawnSync('bash', argv, { ...options, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }), started);
}

/** playbook(), without blocking the event loop: for builds that run side by side. */
export function playbookInBackground(dir: string, args: string[] = [], env: Record<string, string> = {}, stock = false): Promise<Run> {
  return startPlaybook(dir, env, undefined, { args, stock }).ended;
}

export interface RunningPlaybook {
  child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  ended: Promise<Run>;
}

/**
 * Starts playbook() in its own process group (so a test can signal the whole
 * build), calling `watch` with the whole output so far each time more arrives.
 */
export function startPlaybook(
  dir: string,
  env: Record<string, string> = {},
  watch: (outSoFar: string) => void = () => undefined,
  { args = [], stock = false }: { args?: string[]; stock?: boolean } = {},
): RunningPlaybook {
  const started = Date.now();
  const { argv, options } = playbookCommand(dir, args, env, stock);
  const child = spawn('bash', argv, { ...options, detached: true });
  let out = '';
  const more = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    watch(out);
  };
  child.stdout.on('data', more);
  child.stderr.on('data', more);
  const ended = new Promise<Run>((resolve) => child.once('close', (code) => resolve({ code: code ?? -1, out, seconds: (Date.now() - started) / 1000 })));
  return { child, output: () => out, ended };
}

/** Runs a command to completion; its stdout, or an error carrying its stderr. */
export function command(program: string, args: string[], env: Record<string, string> = {}): string {
  const result = spawnSync(program, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`${program} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** Whether `check` comes true within `seconds`, asking four times a second. */
export async function eventually(check: () => Promise<boolean>, seconds = 15): Promise<boolean> {
  for (let i = 0; i < seconds * 4; i++) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}

/** Waits (up to 30 s) for a server a test started to answer. */
export async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  if (!(await eventually(() => check().catch(() => false), 30))) throw new Error(`${what} did not come up`);
}

/** Runs the strata CLI; one that has not ended after `timeoutMs` is killed (and its code is -1). */
export function strata(args: string[], env: Record<string, string> = {}, timeoutMs?: number): Run {
  const started = Date.now();
  return finish(spawnSync('node', [STRATA, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: timeoutMs }), started);
}

/** The PLAY RECAP, host by host: { web: { ok: 5, changed: 2, ... } }. */
export function recap(out: string): Record<string, Record<string, number>> {
  const section = out.slice(out.lastIndexOf('PLAY RECAP'));
  const hosts: Record<string, Record<string, number>> = {};
  for (const line of section.split('\n').slice(1)) {
    const match = /^(\S+)\s+:\s+(.*)$/.exec(line.trim());
    if (!match) continue;
    hosts[match[1]] = Object.fromEntries([...match[2].matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
  }
  return hosts;
}

/** The strata line under each task, in order, for one host: "cached", "built, layer 12 B (0.4s)"... */
export function strataLines(out: string, host: string): string[] {
  const prefix = `strata: [${host}] `;
  return out
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .map((l) => l.slice(prefix.length).replace(/ \([\d.]+s\)$/, ''));
}

/**
 * The image scripts/setup-ansible.sh makes for ansible-core releases that need
 * a newer Python: with those, ansible-playbook itself runs in a container.
 */
const CONTROLLER_IMAGE = 'strata-controller:';

/** Whether a container's name is that of a build container of one of `hosts` (of any host when not given). */
function ofHosts(name: string | undefined, hosts?: string[]): boolean {
  return !hosts || hosts.some((host) => name?.includes(`-${safeName(host)}-`) === true);
}

/**
 * How many containers Docker created (or, with event 'start', started; with
 * 'exec_create', how many `docker exec`s it set up in them) while `action`
 * ran, as Docker's own event log says; not counting the controller container
 * ansible-playbook may run in. With `hosts`, only the build containers of
 * those hosts count (tests that run side by side).
 */
export async function containersCreatedDuring(
  action: () => Promise<unknown> | unknown,
  event: 'create' | 'start' | 'exec_create' = 'create',
  hosts?: string[],
): Promise<number> {
  const since = Date.now() / 1000;
  await action();
  const until = Date.now() / 1000 + 0.5;
  await new Promise((resolve) => setTimeout(resolve, 600));
  const stream = (await docker.getEvents({
    since: since.toFixed(3),
    until: until.toFixed(3),
    filters: { type: ['container'], event: [event] },
  } as unknown as Dockerode.GetEventsOptions)) as unknown as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as { from?: string; Actor?: { Attributes?: { name?: string } } })
    .filter((e) => e.from?.startsWith(CONTROLLER_IMAGE) !== true && ofHosts(e.Actor?.Attributes?.name, hosts)).length;
}

/**
 * Rebuilds the playbook in `dir` and checks that it came from the cache
 * alone: no container created, the recap of `cold`, and every task of each
 * of `hosts` (more than `tasks` of them) cached. Returns the rebuild.
 */
export async function rebuildFromCache(dir: string, cold: Run, hosts: string[], tasks: number): Promise<Run> {
  let warm!: Run;
  const created = await containersCreatedDuring(() => (warm = playbook(dir)));
  assert.equal(warm.code, 0, warm.out);
  assert.equal(created, 0, 'a cached rebuild creates no container');
  assert.deepEqual(recap(warm.out), recap(cold.out));
  for (const host of hosts) {
    const lines = strataLines(warm.out, host);
    assert.ok(lines.length > tasks && lines.every((l) => l === 'cached'), `${host}:\n${lines.join('\n')}`);
  }
  return warm;
}

export async function buildContainers(hosts?: string[]): Promise<string[]> {
  const found = await docker.listContainers({ all: true, filters: { name: ['strata-build'] } });
  return found.map((c) => c.Names[0]).filter((name) => ofHosts(name, hosts));
}

export async function inspect(ref: string): Promise<Dockerode.ImageInspectInfo> {
  return docker.getImage(ref).inspect();
}

export async function layers(ref: string): Promise<string[]> {
  return (await inspect(ref)).RootFS.Layers ?? [];
}

/** Runs a command in a throwaway container of `ref` and returns its output. */
export function runInImage(ref: string, command: string[]): string {
  const result = spawnSync('docker', ['run', '--rm', '--entrypoint', command[0], ref, ...command.slice(1)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`docker run ${ref} ${command.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/**
 * Reads files out of an image without running it (it may have no shell, or
 * nothing but one binary): `paths` from a created container, as a tar.
 */
function fromCreatedContainer<T>(ref: string, read: (id: string) => T): T {
  const created = spawnSync('docker', ['create', ref, 'strata-e2e-never-runs'], { encoding: 'utf8' });
  if (created.status !== 0) throw new Error(`docker create ${ref} failed: ${created.stderr}`);
  const id = created.stdout.trim();
  try {
    return read(id);
  } finally {
    spawnSync('docker', ['rm', '-f', id]);
  }
}

/** One file of an image, read without running the image. */
export function fileInImage(ref: string, path: string): string {
  return fromCreatedContainer(ref, (id) => {
    const result = spawnSync('bash', ['-c', 'set -o pipefail; docker cp "$1:$2" - | tar -xO', 'bash', id, path], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`no ${path} in ${ref}: ${result.stderr}`);
    return result.stdout;
  });
}

/** Every path in an image's file system (as `docker export` gives it), without a leading slash. */
export function filesOfImage(ref: string): Set<string> {
  return fromCreatedContainer(ref, (id) => {
    const result = spawnSync('bash', ['-c', 'set -o pipefail; docker export "$1" | tar -t', 'bash', id], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    if (result.status !== 0) throw new Error(`docker export of ${ref} failed: ${result.stderr}`);
    return new Set(result.stdout.split('\n').filter(Boolean).map((p) => p.replace(/^\.?\//, '').replace(/\/$/, '')));
  });
}

/** The cache entries of one host, by fingerprint. */
export async function cacheEntries(host: string): Promise<Dockerode.ImageInfo[]> {
  const images = await docker.listImages({ filters: { reference: [`${CACHE_REPO}:*`], label: [`${LABEL.host}=${host}`] } });
  return images;
}

/**
 * Removes what a test built: its tags, its hosts' cache entries, and the
 * images older builds left untagged when a tag moved on.
 */
export async function removeImages(tags: string[], hosts: string[]): Promise<void> {
  for (const tag of tags) await docker.getImage(tag).remove().catch(() => undefined);
  for (const host of hosts) {
    for (const image of await cacheEntries(host)) {
      for (const tag of image.RepoTags ?? []) await docker.getImage(tag).remove().catch(() => undefined);
    }
    const provenance = await docker.listImages({ filters: { reference: [`${PROVENANCE_REPO}:*`], label: [`${LABEL.host}=${host}`] } });
    for (const tag of provenance.flatMap((image) => image.RepoTags ?? [])) await docker.getImage(tag).remove().catch(() => undefined);
    const untagged = await docker.listImages({ filters: { dangling: ['true'], label: [`${LABEL.host}=${host}`] } });
    for (const image of untagged) await docker.getImage(image.Id).remove().catch(() => undefined);
  }
}

export interface Engine {
  process: ChildProcess;
  address: string;
  token: string;
  log: () => string;
  stop: () => Promise<void>;
}

/** A standalone engine (`strata serve`), with the address and token it printed. */
export async function serve(args: string[] = []): Promise<Engine> {
  const child = spawn('node', [STRATA, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const printed = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()).includes('STRATA_TOKEN=') && resolve(text));
    child.once('exit', (code) => reject(new Error(`strata serve exited ${code}: ${log}`)));
  });
  return {
    process: child,
    address: /STRATA_ENGINE=(\S+)/.exec(printed)![1],
    token: /STRATA_TOKEN=(\S+)/.exec(printed)![1],
    log: () => log,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

