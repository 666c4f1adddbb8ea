// The second example, built for real: the same roles on a Debian base without
// Python and on one with it. The first image has no Python, and is smaller
// by about what Python weighs.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { buildContainers, copyProject, inspect, playbook, rebuildFromCache, removeImages, Run, runInImage, unique, writeInventory } from './harness';

const slim = unique('greeter');
const python = unique('greeter-on-python');
const tagOf = (host: string) => `strata-e2e/${host}:latest`;
let dir: string;
let cold: Run;

before(() => {
  dir = copyProject('examples/no-python');
  const group = parse(readFileSync(join(dir, 'inventory.yml'), 'utf8')).all.children.greeters;
  const hosts = group.hosts as Record<string, Record<string, unknown>>;
  writeInventory(dir, {
    greeters: {
      [slim]: { ...group.vars, ...hosts.greeter, strata_image: tagOf(slim) },
      [python]: { ...group.vars, ...hosts['greeter-on-python'], strata_image: tagOf(python) },
    },
  });
});

after(() => removeImages([tagOf(slim), tagOf(python)], [slim, python]));

describe('the example without Python', () => {
  it('builds both images; the one from the base without Python has none', async () => {
    cold = playbook(dir);
    assert.equal(cold.code, 0, cold.out);
    for (const host of [slim, python]) {
      assert.match(runInImage(tagOf(host), ['/usr/local/bin/greet']), /^Hello from an image without Python\nGreetings, built on Debian 12[.\d]* \(x86_64\)\nPages: about, python\n$/);
      assert.equal((await inspect(tagOf(host))).Config.User, 'greeter');
    }
    const noPython = spawnSync('docker', ['run', '--rm', tagOf(slim), 'python3', '--version'], { encoding: 'utf8' });
    assert.notEqual(noPython.status, 0);
    assert.match(noPython.stderr, /python3.*(not found|no such file)/i);
    assert.match(runInImage(tagOf(python), ['python3', '--version']), /^Python 3\.11/);
    const [slimSize, pythonSize] = [(await inspect(tagOf(slim))).Size, (await inspect(tagOf(python))).Size];
    assert.ok(pythonSize - slimSize > 20e6, `${slimSize} bytes without Python, ${pythonSize} with`);
    assert.deepEqual(await buildContainers(), []);
  });

  it('rebuilds both from the cache with no container', async () => {
    await rebuildFromCache(dir, cold, [slim, python], 10);
  });
});
