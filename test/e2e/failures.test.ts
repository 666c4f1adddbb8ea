// Failures and bad input: each gets one clear message, a non-zero exit, and
// leaves no container, no half-written cache entry and no moved tag.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import {
  BASE_IMAGE,
  buildContainers,
  cacheEntries,
  copyProject,
  inspect,
  playbook,
  recap,
  removeImages,
  Run,
  serve,
  unique,
  writeInventory,
} from './harness';

const made: { tags: string[]; hosts: string[] } = { tags: [], hosts: [] };

/** A copy of the small fixture whose one host has these inventory variables. */
function small(vars: Record<string, unknown>): { dir: string; host: string; tag: string } {
  const host = unique('small');
  const tag = `strata-e2e/${host}:latest`;
  made.tags.push(tag);
  made.hosts.push(host);
  const dir = copyProject('test/fixtures/small');
  writeInventory(dir, { images: { [host]: { strata_from: BASE_IMAGE, strata_image: tag, ...vars } } });
  return { dir, host, tag };
}

async function assertCleanFailure(run: Run, message: RegExp) {
  assert.notEqual(run.code, 0, run.out);
  assert.match(run.out, message);
  assert.deepEqual(await buildContainers(), [], 'no build container is left');
}

after(async () => {
  await removeImages(made.tags, made.hosts);
  spawnSync('docker', ['rmi', '-f', 'strata-e2e/no-python:latest']);
});

describe('a failing task', () => {
  it('exits non-zero, commits nothing, leaves no container and leaves the previous tag where it was', async () => {
    const { dir, host, tag } = small({});
    const good = playbook(dir);
    assert.equal(good.code, 0, good.out);
    const goodImage = (await inspect(tag)).Id;
    const entriesBefore = (await cacheEntries(host)).length;

    const bad = playbook(dir, ['-e', 'last_command=false']);
    await assertCleanFailure(bad, /fatal: \[.*\]: FAILED!/);
    assert.equal(recap(bad.out)[host].failed, 1);
    assert.match(bad.out, new RegExp(`strata: \\[${host}\\] failed: nothing committed`));
    assert.match(bad.out, /failed, so no image was tagged/);
    assert.equal((await inspect(tag)).Id, goodImage, 'the tag still points at the last good image');
    assert.equal((await cacheEntries(host)).length, entriesBefore, 'the failed task left no cache entry');
  });
});

describe('--check', () => {
  it('reads and writes no cache entry and moves no tag', async () => {
    const { dir, host, tag } = small({});
    const built = playbook(dir);
    assert.equal(built.code, 0, built.out);
    const image = (await inspect(tag)).Id;
    const entries = (await cacheEntries(host)).length;
    const check = playbook(dir, ['--check', '-e', 'last_command=echo-something-new']);
    assert.equal(check.code, 0, check.out);
    assert.doesNotMatch(check.out, /\] cached/, 'nothing is read from the cache');
    assert.match(check.out, /check mode: nothing was read from or written to the cache/);
    assert.equal((await inspect(tag)).Id, image);
    assert.equal((await cacheEntries(host)).length, entries);
    assert.deepEqual(await buildContainers(), []);
  });
});

describe('bad input', () => {
  it('a strata_from image that is missing and cannot be pulled', async () => {
    const { dir } = small({ strata_from: 'strata-e2e/missing:nope' });
    await assertCleanFailure(playbook(dir), /base image strata-e2e\/missing:nope \(strata_from of host small-\w+\) is not in Docker and could not be pulled/);
  });

  it('an image reference Docker would refuse, in strata_image or strata_from, before any task of any host runs', async () => {
    for (const [variable, value] of [
      ['strata_image', 'UPPER/case:tag'],
      ['strata_from', 'not an image!'],
      ['strata_from', 'debian;$(touch /tmp/x)'],
    ]) {
      const good = unique('good');
      const { dir, host } = small({ [variable]: value });
      writeInventory(dir, {
        images: {
          [good]: { strata_from: BASE_IMAGE, strata_image: `strata-e2e/${good}:latest` },
          [host]: { strata_from: BASE_IMAGE, strata_image: `strata-e2e/${host}:latest`, [variable]: value },
        },
      });
      made.hosts.push(good);
      const run = playbook(dir);
      const named = `${variable} ${JSON.stringify(value).replace(/[$()[\]*+?.|\\]/g, '\\$&')} of host ${host} is not`;
      await assertCleanFailure(run, new RegExp(named));
      assert.doesNotMatch(run.out, /TASK \[Write a file\]/, 'no task started');
      assert.equal((await cacheEntries(good)).length + (await cacheEntries(host)).length, 0, 'nothing was built');
    }
  });

  it('an image without python3, when strata_python says to use the image\'s own', async () => {
    const built = spawnSync('docker', ['build', '-q', '-t', 'strata-e2e/no-python:latest', '-'], {
      input: `FROM ${BASE_IMAGE}\nRUN rm -f /usr/bin/python3*\n`,
      encoding: 'utf8',
    });
    assert.equal(built.status, 0, built.stderr);
    const { dir, tag } = small({ strata_from: 'strata-e2e/no-python:latest', strata_python: 'image' });
    // Ansible's interpreter discovery finds none and falls back to its default (/usr/bin/python on 2.14, python3 later).
    await assertCleanFailure(playbook(dir), /the image has no Python at \/usr\/bin\/python3? .*Set strata_python: mounted/);
    await assert.rejects(inspect(tag), 'no image is tagged');
  });

  it('Docker not running or its socket not reachable', async () => {
    const { dir } = small({});
    await assertCleanFailure(
      playbook(dir, [], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' }),
      /cannot reach the Docker daemon at unix:\/\/\/nonexistent\/docker.sock .*Start it/,
    );
  });

  it('an engine that cannot be reached', async () => {
    const { dir } = small({});
    await assertCleanFailure(
      playbook(dir, [], { STRATA_ENGINE: 'ws://127.0.0.1:9', STRATA_TOKEN: 'x' }),
      /strata: cannot reach the engine at ws:\/\/127.0.0.1:9 .*start one with `strata serve`/,
    );
  });

  it('an engine that refuses the token, and the same engine with the right one', async () => {
    const engine = await serve(['--log-level', 'warn']);
    try {
      const { dir } = small({});
      await assertCleanFailure(playbook(dir, [], { STRATA_ENGINE: engine.address, STRATA_TOKEN: 'wrong' }), /refused the token/);
      const good = playbook(dir, [], { STRATA_ENGINE: engine.address, STRATA_TOKEN: engine.token });
      assert.equal(good.code, 0, good.out);
    } finally {
      await engine.stop();
    }
    assert.deepEqual(await buildContainers(), []);
  });

  it('a base image without a shell, when strata_python says to use the image\'s own: the build fails clearly and a shared engine keeps serving', async () => {
    const empty = spawnSync('bash', ['-c', 'tar -cf - --files-from /dev/null | docker import - strata-e2e/no-shell:latest'], { encoding: 'utf8' });
    assert.equal(empty.status, 0, empty.stderr);
    const engine = await serve(['--log-level', 'warn']);
    try {
      const env = { STRATA_ENGINE: engine.address, STRATA_TOKEN: engine.token };
      const { dir } = small({ strata_from: 'strata-e2e/no-shell:latest', strata_python: 'image' });
      await assertCleanFailure(playbook(dir, [], env), /Docker failed while starting build container .*\/bin\/sh/);
      assert.equal(engine.process.exitCode, null, 'the engine is still running');
      const good = playbook(small({}).dir, [], env);
      assert.equal(good.code, 0, good.out);
    } finally {
      await engine.stop();
      spawnSync('docker', ['rmi', '-f', 'strata-e2e/no-shell:latest']);
    }
  });

  it('a strata_config of the wrong shape', async () => {
    const { dir } = small({ strata_config: 'python3 app.py' });
    await assertCleanFailure(playbook(dir), /strata_config of host small-\w+ must be a mapping .* Fix the inventory/);
  });

  it('a strata_config with an unknown key', async () => {
    const { dir } = small({ strata_config: { command: ['x'] } });
    await assertCleanFailure(playbook(dir), /unknown key "command"; the keys are cmd, entrypoint/);
  });

  it('an invalid strata_image', async () => {
    const { dir } = small({ strata_image: 'Shop/Web' });
    await assertCleanFailure(playbook(dir), /strata_image "Shop\/Web" of host small-\w+ is not a valid image name/);
  });
});
