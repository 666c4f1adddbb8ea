// Podman instead of Docker: its Docker-compatible API service, started here on
// a socket and storage of its own, with the base image loaded from Docker.
// The build, the cache, `strata ls` and `strata history` must work through it.

import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Dockerode from 'dockerode';
import { BASE_IMAGE, command, copyProject, playbook, strata, strataLines, unique, until, writeInventory } from './harness';

const work = mkdtempSync(join(tmpdir(), 'strata-podman-'));
const socket = join(work, 'podman.sock');
const storage = ['--root', join(work, 'root'), '--runroot', join(work, 'run')];
// This workplace's sandbox refuses the rlimits Podman sets by default.
const env = { CONTAINERS_CONF: join(work, 'containers.conf') };
const podman = new Dockerode({ socketPath: socket });
const DOCKER_HOST = `unix://${socket}`;
const host = unique('podman');
const tag = `strata-e2e/${host}:latest`;
const PODMAN_BRIDGE = 'cni-podman0';
const BARE_BASE = 'strata-base:busybox';
const bridgeWasThere = existsSync(`/sys/class/net/${PODMAN_BRIDGE}`);
let service: ChildProcess | undefined;

before(async () => {
  writeFileSync(env.CONTAINERS_CONF, '[containers]\ndefault_ulimits = []\n');
  service = spawn('podman', [...storage, 'system', 'service', '--time=0', DOCKER_HOST], { stdio: 'ignore', env: { ...process.env, ...env } });
  await until(async () => Boolean(await podman.ping()), 'the Podman service');
  const saved = spawnSync('docker', ['save', BASE_IMAGE, BARE_BASE], { maxBuffer: 1024 * 1024 * 1024 });
  const loaded = spawnSync('podman', [...storage, 'load', '-q'], { input: saved.stdout, env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.equal(loaded.status, 0, loaded.stderr);
});

after(async () => {
  for (const container of await podman.listContainers({ all: true }).catch(() => [])) {
    await podman.getContainer(container.Id).remove({ force: true }).catch(() => undefined);
  }
  if (service && service.exitCode === null) {
    service.kill('SIGTERM');
    await new Promise((resolve) => service!.once('exit', resolve));
  }
  // Podman keeps a conmon per exec session for 5 minutes, and its overlay
  // store mounted, after the service stops.
  spawnSync('pkill', ['-KILL', '-f', `conmon .*${work}`]);
  spawnSync('umount', ['-R', '--lazy', join(work, 'root', 'overlay')]);
  if (!bridgeWasThere) spawnSync('ip', ['link', 'delete', PODMAN_BRIDGE]);
  rmSync(work, { recursive: true, force: true });
});

describe('building through Podman', () => {
  const dir = copyProject('test/fixtures/small');
  writeInventory(dir, { images: { [host]: { strata_from: BASE_IMAGE, strata_image: tag } } });
  let firstImage = '';

  it('builds one layer per task, with the entries labelled', async () => {
    const built = playbook(dir, [], { DOCKER_HOST });
    assert.equal(built.code, 0, built.out);
    assert.deepEqual(strataLines(built.out, host).map((l) => l.split(',')[0]), ['built', 'built']);
    assert.equal(command('docker', ['-H', DOCKER_HOST, 'run', '--rm', tag, 'cat', '/one']), 'one\n');
    const image = await podman.getImage(tag).inspect();
    assert.equal(image.Config.Labels?.['strata.host'], host);
    firstImage = image.Id;
    assert.deepEqual(await podman.listContainers({ all: true }), [], 'no build container is left');
  });

  it('rebuilds from the cache, keeping the same image', async () => {
    const rebuilt = playbook(dir, [], { DOCKER_HOST });
    assert.equal(rebuilt.code, 0, rebuilt.out);
    assert.deepEqual(strataLines(rebuilt.out, host), ['cached', 'cached']);
    assert.equal((await podman.getImage(tag).inspect()).Id, firstImage);
  });

  it('re-runs only the task whose input changed', () => {
    const edited = playbook(dir, ['-e', '{"last_command": "echo podman"}'], { DOCKER_HOST });
    assert.equal(edited.code, 0, edited.out);
    assert.deepEqual(strataLines(edited.out, host).map((l) => l.split(',')[0]), ['cached', 'built']);
  });

  it('lists the entries and names the task behind each layer', () => {
    const listed = strata(['ls', '--json'], { DOCKER_HOST });
    assert.equal(listed.code, 0, listed.out);
    const tasks = (JSON.parse(listed.out) as { host: string; task: string }[]).filter((e) => e.host === host).map((e) => e.task);
    assert.deepEqual(tasks.sort(), ['command echo podman', 'command true', 'copy content=*** dest=/one']);
    const history = strata(['history', '--json', tag], { DOCKER_HOST });
    assert.equal(history.code, 0, history.out);
    const madeBy = (JSON.parse(history.out) as { madeBy: string; fingerprint?: string }[]).filter((r) => r.fingerprint).map((r) => r.madeBy);
    assert.deepEqual(madeBy, ['copy content=*** dest=/one', 'command echo podman']);
  });
});

describe('a base without Python through Podman', () => {
  it('is refused, with what to do, before any task runs', async () => {
    const bare = unique('podman-bare');
    const dir = copyProject('test/fixtures/small');
    writeInventory(dir, { images: { [bare]: { strata_from: BARE_BASE, strata_image: `strata-e2e/${bare}:latest` } } });
    const built = playbook(dir, [], { DOCKER_HOST });
    assert.notEqual(built.code, 0, built.out);
    assert.match(built.out, /strata cannot mount its Python runtime through Podman yet, and the base image has no \/usr\/bin\/python3: build this host with Docker, or from a base with Python/);
    assert.deepEqual(await podman.listContainers({ all: true }), [], 'no container is left');
  });
});
