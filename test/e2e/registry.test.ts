// Beyond one machine, on real components started here: a registry (Debian's
// docker-registry, the CNCF distribution registry) on loopback shares the
// cache; a second dockerd, with its own socket, data root and bridge, stands
// in for another machine with an empty Docker.

import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Dockerode from 'dockerode';
import { SecondDaemon, startSecondDaemon } from './second-daemon';
import { BASE_IMAGE, command, copyProject, docker, playbook, removeImages, strata, strataLines, unique, until, writeInventory } from './harness';

const work = mkdtempSync(join(tmpdir(), 'strata-remote-'));
let registryPort = 0;
let tcpPort = 0;
let registry: ChildProcess | undefined;
let otherDaemon: SecondDaemon | undefined;
let other: Dockerode;
const host = unique('shared');
const made: { tags: string[]; hosts: string[] } = { tags: [], hosts: [host] };

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

function startRegistry(): Promise<void> {
  writeFileSync(
    join(work, 'registry.yml'),
    `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, 'registry')}\nhttp:\n  addr: 127.0.0.1:${registryPort}\nlog:\n  level: error\n`,
  );
  registry = spawn('docker-registry', ['serve', join(work, 'registry.yml')], { stdio: 'ignore' });
  return until(async () => (await fetch(`http://127.0.0.1:${registryPort}/v2/`)).ok, 'the registry');
}

function stopRegistry(): Promise<void> {
  const child = registry;
  registry = undefined;
  if (!child || child.exitCode !== null) return Promise.resolve();
  child.kill('SIGTERM');
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function registryTags(repository: string): Promise<string[]> {
  const reply = await fetch(`http://127.0.0.1:${registryPort}/v2/${repository}/tags/list`);
  return reply.ok ? ((await reply.json()) as { tags: string[] }).tags ?? [] : [];
}

before(async () => {
  registryPort = await freePort();
  tcpPort = await freePort();
  await startRegistry();
  otherDaemon = startSecondDaemon({ alsoListenOn: [`tcp://127.0.0.1:${tcpPort}`] });
  other = new Dockerode({ socketPath: otherDaemon.host.slice('unix://'.length) });
  command('docker', ['tag', BASE_IMAGE, `127.0.0.1:${registryPort}/strata-base:bookworm`]);
  command('docker', ['push', '-q', `127.0.0.1:${registryPort}/strata-base:bookworm`]);
  made.tags.push(`127.0.0.1:${registryPort}/strata-base:bookworm`);
});

after(async () => {
  await stopRegistry();
  otherDaemon?.stop();
  await removeImages(made.tags, made.hosts);
  rmSync(work, { recursive: true, force: true });
});

/** A copy of the small project whose one image host is `name`, built from the registry's base. */
function project(extra: Record<string, unknown> = {}, name = host): string {
  const dir = copyProject('test/fixtures/small');
  const base = `127.0.0.1:${registryPort}/strata-base:bookworm`;
  writeInventory(dir, { images: { [name]: { strata_from: base, strata_image: `strata-e2e/${name}:latest`, ...extra } } });
  made.tags.push(`strata-e2e/${name}:latest`);
  if (!made.hosts.includes(name)) made.hosts.push(name);
  return dir;
}

describe('sharing the cache through a registry', () => {
  let dir: string;
  const cacheRepo = () => `127.0.0.1:${registryPort}/strata-cache`;

  it('pushes every entry a build commits', async () => {
    dir = project();
    const built = playbook(dir, [], { STRATA_CACHE_REPO: cacheRepo() });
    assert.equal(built.code, 0, built.out);
    assert.deepEqual(strataLines(built.out, host).map((l) => l.split(',')[0]), ['built', 'built']);
    assert.equal((await registryTags('strata-cache')).length, 2);
  });

  it('rebuilds on an empty Docker (another daemon, over DOCKER_HOST) from the registry without running a task', async () => {
    assert.equal((await other.listImages()).length, 0, 'the other daemon starts empty');
    const rebuilt = playbook(dir, [], { STRATA_CACHE_REPO: cacheRepo(), DOCKER_HOST: otherDaemon!.host });
    assert.equal(rebuilt.code, 0, rebuilt.out);
    assert.deepEqual(strataLines(rebuilt.out, host), ['cached', 'cached'], 'no task ran');
    const here = await new Dockerode().getImage(`strata-e2e/${host}:latest`).inspect();
    const there = await other.getImage(`strata-e2e/${host}:latest`).inspect();
    assert.deepEqual(there.RootFS.Layers, here.RootFS.Layers, 'the same layers, byte for byte');
    assert.deepEqual(there.Config.Cmd, here.Config.Cmd);
    assert.deepEqual(there.Config.Env, here.Config.Env);
    assert.equal(command('docker', ['-H', otherDaemon!.host, 'run', '--rm', `strata-e2e/${host}:latest`, 'cat', '/one']), 'one\n');
  });

  it('shares an entry whose result is too big for a label, with its blob', async () => {
    const bigHost = unique('shared-big');
    const bigDir = project({}, bigHost);
    // The copy's content is the replayed stdout's hash: a replay that differed would rebuild it.
    writeFileSync(join(bigDir, 'site.yml'), `- hosts: all
  gather_facts: false
  tasks:
    - shell: head -c 200000 /dev/urandom | base64 -w0
      register: big
    - copy: { content: "{{ big.stdout | hash('sha1') }}", dest: /sum }
`);
    const env = { STRATA_CACHE_REPO: cacheRepo() };
    const built = playbook(bigDir, [], env);
    assert.equal(built.code, 0, built.out);
    assert.equal((await registryTags('strata-cache')).filter((t) => t.startsWith('blob-')).length, 1, `the blob was pushed:\n${built.out}`);
    const rebuilt = playbook(bigDir, [], { ...env, DOCKER_HOST: otherDaemon!.host });
    assert.equal(rebuilt.code, 0, rebuilt.out);
    assert.deepEqual(strataLines(rebuilt.out, bigHost), ['cached', 'cached']);
    const sum = (daemon: string[]) => command('docker', [...daemon, 'run', '--rm', `strata-e2e/${bigHost}:latest`, 'cat', '/sum']);
    assert.equal(sum(['-H', otherDaemon!.host]), sum([]));
  });

  it('refuses an entry planted in the registry: labels of a real one on layers of its own', async () => {
    const plantHost = unique('shared-plant');
    const plantDir = project({}, plantHost);
    const env = { STRATA_CACHE_REPO: cacheRepo(), STRATA_SECRET: 'shared-by-the-fleet' };
    const built = playbook(plantDir, ['-e', '{"last_command": "touch /real"}'], env);
    assert.equal(built.code, 0, built.out);
    // The second task's entry, replaced by one built on the first with a file of the attacker's.
    const here = new Dockerode();
    const [first, second] = (await here.listImages({ filters: { label: [`strata.host=${plantHost}`], reference: ['strata-cache:*'] } }))
      .sort((a, b) => Number(a.Labels['strata.position']) - Number(b.Labels['strata.position']));
    const fingerprint = second.Labels['strata.fingerprint'];
    const planter = await here.createContainer({ Image: first.Id, Entrypoint: [], Cmd: ['sh', '-c', 'echo planted > /evil'] });
    await planter.start();
    await planter.wait();
    await planter.commit({ repo: `127.0.0.1:${registryPort}/strata-cache`, tag: fingerprint, Labels: (await here.getImage(second.Id).inspect()).Config.Labels });
    await planter.remove();
    command('docker', ['push', '-q', `127.0.0.1:${registryPort}/strata-cache:${fingerprint}`]);
    command('docker', ['rmi', `127.0.0.1:${registryPort}/strata-cache:${fingerprint}`]);
    const otherEnv = { ...env, DOCKER_HOST: otherDaemon!.host };
    const rebuilt = playbook(plantDir, ['-e', '{"last_command": "touch /real"}'], otherEnv);
    assert.equal(rebuilt.code, 0, rebuilt.out);
    assert.deepEqual(strataLines(rebuilt.out, plantHost).map((l) => l.split(',')[0]), ['cached', 'built']);
    assert.match(rebuilt.out, /is\s+not\s+signed\s+with\s+this\s+engine's\s+key/);
    const files = command('docker', ['-H', otherDaemon!.host, 'run', '--rm', `strata-e2e/${plantHost}:latest`, 'sh', '-c', 'ls /evil /real 2>&1; true']);
    assert.match(files, /\/real/);
    assert.match(files, /'?\/evil'?: No such file/);
  });

  it('builds over a tcp:// DOCKER_HOST too', () => {
    const rebuilt = playbook(dir, ['-e', '{"last_command": "echo tcp"}'], { DOCKER_HOST: `tcp://127.0.0.1:${tcpPort}` });
    assert.equal(rebuilt.code, 0, rebuilt.out);
    assert.deepEqual(strataLines(rebuilt.out, host).map((l) => l.split(',')[0]), ['cached', 'built']);
  });

  it('pushes the final image, and its provenance beside it, when strata_push is set', async () => {
    const tag = `127.0.0.1:${registryPort}/pushed/${host}:latest`;
    made.tags.push(tag);
    const pushed = playbook(project({ strata_image: tag, strata_push: true }));
    assert.equal(pushed.code, 0, pushed.out);
    assert.match(pushed.out, new RegExp(`strata: ${host}: pushed ${tag.replace(/[.]/g, '\\.')}`));
    const id = (await docker.getImage(tag).inspect()).Id.replace('sha256:', '');
    const provenanceTag = `strata-provenance-${id}`;
    made.tags.push(`127.0.0.1:${registryPort}/pushed/${host}:${provenanceTag}`);
    assert.deepEqual((await registryTags(`pushed/${host}`)).sort(), ['latest', provenanceTag].sort());
    // What a machine that pulls both has: the provenance beside the image, found by its ID.
    await docker.getImage(`strata-provenance:${id}`).remove();
    const shown = strata(['provenance', tag, '--verify']);
    assert.equal(shown.code, 0, shown.out);
    assert.match(shown.out, /verified/);
  });

  it('warns when the registry is down, and the build still succeeds', async () => {
    await stopRegistry();
    const other = project();
    const run = playbook(other, ['-e', '{"last_command": "echo registry down"}'], { STRATA_CACHE_REPO: cacheRepo() });
    assert.equal(run.code, 0, run.out);
    // Ansible wraps warnings, hence \s+ between the words.
    assert.match(run.out, /\[WARNING\]: strata: \S+: could not push cache entry [0-9a-f]{12} to\s+127\.0\.0\.1/);
  });
});
