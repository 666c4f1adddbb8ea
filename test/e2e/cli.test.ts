// The cache commands against a real cache: ls, history, explain, prune, and
// the errors and exit codes of the CLI; the status line on a terminal.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { BASE_IMAGE, copyProject, inspect, playbook, removeImages, runInImage, strata, STRATA, unique, writeInventory } from './harness';

const host = unique('cli');
const tag = `strata-e2e/${host}:latest`;
let dir: string;

before(() => {
  dir = copyProject('test/fixtures/small');
  writeInventory(dir, { images: { [host]: { strata_from: BASE_IMAGE, strata_image: tag, strata_config: { cmd: ['cat', '/one'] } } } });
  for (const args of [[], ['-e', '{"last_command": "echo second"}']]) {
    const run = playbook(dir, args);
    assert.equal(run.code, 0, run.out);
  }
});

after(() => removeImages([tag], [host]));

describe('strata ls', () => {
  it('lists a host\'s entries with sizes and ages, as text and as JSON', () => {
    const json = strata(['ls', '--host', host, '--json']);
    assert.equal(json.code, 0, json.out);
    const entries = JSON.parse(json.out);
    assert.equal(entries.length, 3, 'the copy, and two versions of the command');
    for (const e of entries) {
      assert.equal(e.host, host);
      assert.match(e.fingerprint, /^[0-9a-f]{64}$/);
      assert.ok(Date.parse(e.created) && Date.parse(e.lastUsed));
    }
    assert.equal(entries.find((e: { position: number }) => e.position === 0).layerBytes, 4, 'the copy wrote four bytes');
    const text = strata(['ls', '--host', host]);
    assert.match(text.out, /^HOST\s+POS\s+TASK\s+FINGERPRINT\s+IMAGE\s+LAYER\s+CREATED\s+LAST USED$/m);
    assert.match(text.out, /copy content=\*\*\* dest=\/one\s+[0-9a-f]{12}\s+[0-9a-f]{12}\s+4 B\s+\d+ seconds? ago/);
  });
});

describe('strata history', () => {
  it('says what made each step of the image: the base by the name strata_from gave it, each task, the config', () => {
    const run = strata(['history', tag, '--json']);
    assert.equal(run.code, 0, run.out);
    const rows = JSON.parse(run.out) as { kind: string; madeBy: string; fingerprint?: string; layer: number }[];
    const copy = rows.find((r) => r.madeBy.startsWith('copy content=*** dest=/one'));
    assert.ok(copy && copy.kind === 'task' && copy.fingerprint && copy.layer > 0, JSON.stringify(rows));
    // strata-base:bookworm is one imported layer: Docker says only "Imported from -".
    assert.deepEqual(rows[0], { ...rows[0], kind: 'base', madeBy: `base image ${BASE_IMAGE} (strata_from of ${host})` });
    assert.deepEqual(rows.at(-1), { ...rows.at(-1), kind: 'config', madeBy: `image config (strata_config of ${host})` });
    assert.deepEqual(rows.filter((r) => !['base', 'task', 'config'].includes(r.kind)), []);
    const text = strata(['history', tag]).out;
    assert.match(text, /^LAYER\s+FINGERPRINT\s+MADE BY$/m);
    assert.doesNotMatch(text, /Imported from -|\s-\s+cat \/one$/m, 'no step is left in Docker\'s words alone');
  });
});

describe('strata explain', () => {
  it('names the input that made the latest build miss', () => {
    const run = strata(['explain', host]);
    assert.equal(run.code, 0, run.out);
    assert.match(run.out, new RegExp(`${host}, task 1 "command echo second"`));
    assert.match(run.out, /missed the cache because:\n {2}- variable-rendered args changed: the command line\n/);
    assert.match(run.out, /compared with entry [0-9a-f]{12}/);
  });
});

describe('a command piped into a reader that stops early', () => {
  // `true` reads nothing and exits at once: every write after that meets a closed pipe.
  for (const args of [['ls', '--json'], ['ls'], ['history', '--json', tag], ['explain', host], ['prune', '--all', '--host', host, '--dry-run'], ['env'], ['--help']]) {
    it(`strata ${args.join(' ')} ends quietly`, () => {
      const piped = spawnSync('bash', ['-c', 'node "$0" "$@" | true; exit ${PIPESTATUS[0]}', STRATA, ...args], { encoding: 'utf8' });
      assert.equal(piped.status, 0, piped.stderr);
      assert.equal(piped.stderr, '');
    });
  }
});

describe('strata prune', () => {
  it('--dry-run removes nothing; --keep-last removes old versions but never a layer a tagged image uses', async () => {
    const dry = strata(['prune', '--keep-last', '1', '--host', host, '--dry-run']);
    assert.equal(dry.code, 0, dry.out);
    assert.match(dry.out, /would remove .* command true/);
    assert.match(dry.out, /1 entries would be removed/);
    assert.equal(JSON.parse(strata(['ls', '--host', host, '--json']).out).length, 3);
    const real = strata(['prune', '--keep-last', '1', '--host', host]);
    assert.equal(real.code, 0, real.out);
    assert.equal(JSON.parse(strata(['ls', '--host', host, '--json']).out).length, 2);
    const all = strata(['prune', '--all', '--host', host]);
    assert.equal(all.code, 0, all.out);
    assert.equal(JSON.parse(strata(['ls', '--host', host, '--json']).out).length, 0);
    assert.ok((await inspect(tag)).Id, 'the tagged image is still there');
    assert.equal(runInImage(tag, ['cat', '/one']), 'one\n', 'and so are its layers');
  });
});

describe('CLI errors', () => {
  it('gives one line naming the problem, with distinct exit codes', () => {
    const usage = strata(['prune']);
    assert.equal(usage.code, 2);
    assert.match(usage.out, /^strata: say what to prune: --older-than DURATION, --keep-last N, or --all/);
    const badOption = strata(['ls', '--bogus']);
    assert.equal(badOption.code, 2);
    assert.match(badOption.out, /unknown option '--bogus'/);
    const badDuration = strata(['prune', '--older-than', 'soon']);
    assert.equal(badDuration.code, 2);
    assert.match(badDuration.out, /--older-than "soon" is not a duration; use e.g. 30m/);
    const noDocker = strata(['ls'], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    assert.equal(noDocker.code, 3);
    assert.match(noDocker.out, /^strata: cannot reach the Docker daemon at unix:\/\/\/nonexistent\/docker.sock/);
    assert.equal(noDocker.out.trim().split('\n').length, 1);
    const unknownHost = strata(['explain', 'no-such-host']);
    assert.equal(unknownHost.code, 2);
  });

  it('has --help with examples for every command', () => {
    for (const command of ['serve', 'env', 'ls', 'history', 'explain', 'prune']) {
      const help = strata([command, '--help']);
      assert.equal(help.code, 0, command);
      assert.match(help.out, /Examples?:\n {2}\$ /, `${command} --help shows an example`);
    }
  });
});

describe('on a terminal', () => {
  it('keeps a status line at the bottom, redrawn in place', () => {
    const command = `eval "$(node ${STRATA} env)" && ansible-playbook -i inventory.yml site.yml`;
    const run = spawnSync('script', ['-qfec', command, '/dev/null'], { cwd: dir, encoding: 'utf8', env: { ...process.env, ANSIBLE_NOCOLOR: '1' } });
    assert.equal(run.status, 0, run.stdout);
    assert.match(run.stdout, /strata: \d+ cached, \d+ built, \d+s/);
    assert.match(run.stdout, /\r\x1b\[K/, 'the status line is cleared before other output');
  });
});
