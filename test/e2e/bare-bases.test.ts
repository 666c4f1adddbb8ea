// Images from bases without Python: a Debian minbase, BusyBox (no libc), and
// an image that is one static binary (no shell). Ansible's modules run with
// the Python strata mounts into the build containers, and the images it ships
// hold what the tasks made and nothing else.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import {
  BASE_IMAGE,
  buildContainers,
  cacheEntries,
  copyProject,
  fileInImage,
  filesOfImage,
  inspect,
  playbook,
  rebuildFromCache,
  recap,
  removeImages,
  Run,
  strataLines,
  unique,
  writeInventory,
} from './harness';

interface Base {
  host: string;
  from: string;
  vars: Record<string, unknown>;
}

const BASES: Base[] = [
  { host: unique('slim'), from: 'strata-base:bookworm-slim', vars: { probe_command: 'cat /srv/app/hello.txt', user_tools: true } },
  { host: unique('busybox'), from: 'strata-base:busybox', vars: { probe_command: 'cat /srv/app/hello.txt' } },
  { host: unique('static'), from: 'strata-base:static', vars: { probe_command: '/tini --version' } },
];
const tagOf = (host: string) => `strata-e2e/${host}:latest`;

/** What the play makes in every image, and all it may add (the slim base's user and group aside). */
const MADE = ['srv', 'srv/app', ...['hello.txt', 'app.conf', 'stat.txt', 'command.txt', 'shell.txt', 'data', 'logs', 'handled.txt'].map((f) => `srv/app/${f}`)];

let dir: string;
let cold: Run;

function inventory(extra: Record<string, Record<string, unknown>> = {}): void {
  writeInventory(dir, {
    images: Object.fromEntries(BASES.map((b) => [b.host, { strata_from: b.from, strata_image: tagOf(b.host), ...b.vars, ...(extra[b.host] ?? {}) }])),
  });
}

before(() => {
  dir = copyProject('test/fixtures/bare');
  inventory();
});

after(() => removeImages(BASES.map((b) => tagOf(b.host)), BASES.map((b) => b.host)));

describe('bases without Python', () => {
  it('build: facts, copy, template, lineinfile, stat, command, shell, loops, handlers, user and group', () => {
    cold = playbook(dir);
    assert.equal(cold.code, 0, cold.out);
    for (const { host } of BASES) {
      const tag = tagOf(host);
      assert.equal(fileInImage(tag, '/srv/app/hello.txt'), `hello from ${host}\n`);
      assert.equal(fileInImage(tag, '/srv/app/app.conf'), `name=${host}\narch=x86_64\nrelease=1\nadded=yes\n`);
      assert.equal(fileInImage(tag, '/srv/app/stat.txt'), 'True 0644\n');
      assert.equal(fileInImage(tag, '/srv/app/shell.txt'), 'shell-ran\n');
      assert.equal(fileInImage(tag, '/srv/app/handled.txt'), 'handled\n');
      assert.equal(recap(cold.out)[host].failed, 0);
    }
    const [slim, busybox, bare] = BASES.map((b) => tagOf(b.host));
    assert.equal(fileInImage(slim, '/srv/app/command.txt'), `hello from ${BASES[0].host}\n`);
    assert.equal(fileInImage(busybox, '/srv/app/command.txt'), `hello from ${BASES[1].host}\n`);
    assert.match(fileInImage(bare, '/srv/app/command.txt'), /^tini version 0\.19\.0/);
    assert.match(fileInImage(slim, '/etc/passwd'), /^app:x:\d+:\d+:/m);
    assert.match(fileInImage(slim, '/etc/group'), /^app:x:\d+:/m);
  });

  it('ship what the tasks made and nothing else: no Python, no runtime, no mount point', async () => {
    for (const { host, from } of BASES) {
      const tag = tagOf(host);
      const base = filesOfImage(from);
      const added = [...filesOfImage(tag)].filter((path) => !base.has(path)).sort();
      // useradd leaves backups of the files it changed (etc/shadow-...) on the slim base.
      const byTasks = host === BASES[0].host ? added.filter((p) => !p.startsWith('etc/')) : added;
      assert.deepEqual(byTasks, MADE.filter((p) => !base.has(p)).sort(), `${host}: ${added.join(', ')}`);
      assert.ok(added.every((p) => !/python|strata/.test(p)), added.join(', '));
      const config = (await inspect(tag)).Config;
      assert.deepEqual(config.Volumes ?? null, null, 'no volume in the image config');
      assert.deepEqual(config.Env ?? [], (await inspect(from)).Config.Env ?? []);
    }
    for (const tag of BASES.slice(0, 2).map((b) => tagOf(b.host))) {
      const run = spawnSync('docker', ['run', '--rm', tag, 'python3', '--version'], { encoding: 'utf8' });
      assert.notEqual(run.status, 0, `${tag} has no python3: ${run.stdout}`);
    }
    assert.deepEqual(await buildContainers(), []);
  });

  it('rebuild from the cache with no container', async () => {
    await rebuildFromCache(dir, cold, BASES.map((b) => b.host), 10);
  });

  it('an edit re-runs from the changed task on', () => {
    const edited = playbook(dir, ['-e', 'app_release=2']);
    assert.equal(edited.code, 0, edited.out);
    for (const { host } of BASES) {
      const lines = strataLines(edited.out, host);
      // Facts, the directory and the greeting come from the cache; the template and all after it run.
      assert.deepEqual(lines.slice(0, 3), ['cached', 'cached', 'cached'], lines.join('\n'));
      assert.ok(lines.slice(3).every((l) => l !== 'cached'), lines.join('\n'));
      assert.match(fileInImage(tagOf(host), '/srv/app/app.conf'), /^release=2$/m);
    }
  });

  it('a module that needs what the base lacks fails with Ansible\'s message, and nothing is kept', async () => {
    const busybox = BASES[1];
    const entries = (await cacheEntries(busybox.host)).length;
    const image = (await inspect(tagOf(busybox.host))).Id;
    const failing = copyProject('test/fixtures/bare');
    writeInventory(failing, { images: { [busybox.host]: { strata_from: busybox.from, strata_image: tagOf(busybox.host) } } });
    spawnSync('bash', ['-c', `printf '%s\\n' '- hosts: all' '  gather_facts: false' '  tasks:' '    - apt: { name: curl }' > site.yml`], { cwd: failing });
    const run = playbook(failing);
    assert.notEqual(run.code, 0, run.out);
    assert.match(run.out, /FAILED!/);
    assert.match(run.out, /apt|dpkg|python3-apt/i);
    assert.equal((await cacheEntries(busybox.host)).length, entries, 'no entry for the failed task');
    assert.equal((await inspect(tagOf(busybox.host))).Id, image, 'the tag did not move');
    assert.deepEqual(await buildContainers(), []);
  });
});

describe('a base with Python', () => {
  const host = unique('mounted');
  after(() => removeImages([tagOf(host)], [host]));

  it('uses its own Python unless strata_python says mounted; a different runtime is a different task', () => {
    const project = copyProject('test/fixtures/small');
    const write = (vars: Record<string, unknown>) =>
      writeInventory(project, { images: { [host]: { strata_from: BASE_IMAGE, strata_image: tagOf(host), ...vars } } });
    write({ strata_python: 'mounted' });
    const mounted = playbook(project);
    assert.equal(mounted.code, 0, mounted.out);
    assert.equal(fileInImage(tagOf(host), '/one'), 'one\n');
    const again = playbook(project);
    assert.deepEqual(strataLines(again.out, host).map((l) => l.split(',')[0]), ['cached', 'cached']);
    write({});
    const own = playbook(project);
    assert.equal(own.code, 0, own.out);
    assert.ok(strataLines(own.out, host).every((l) => l !== 'cached'), own.out);
    write({ strata_python: 'conductor' });
    const bad = playbook(project);
    assert.notEqual(bad.code, 0);
    assert.match(bad.out, /strata_python must be one of auto, mounted, image, not "conductor"/);
  });
});
