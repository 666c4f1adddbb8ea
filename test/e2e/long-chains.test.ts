// A chain longer than overlay2's 125-layer limit: built on a loaded machine,
// rebuilt from the cache, every task its own entry. A file of its own, which
// the runs on newer Ansible releases leave out (Makefile E2E_2.19, E2E_2.22):
// it takes minutes and tests the engine's flattening, which no Ansible
// release changes.

import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  BASE_IMAGE,
  buildContainers,
  cacheEntries,
  containersCreatedDuring,
  copyProject,
  layers,
  playbook,
  removeImages,
  Run,
  runInImage,
  startPlaybook,
  strataLines,
  unique,
  writeInventory,
} from './harness';

const made: { tags: string[]; hosts: string[] } = { tags: [], hosts: [] };

after(() => removeImages(made.tags, made.hosts));

function project(): { dir: string; host: string; tag: string } {
  const dir = copyProject('test/fixtures/small');
  const host = unique('long');
  const tag = `strata-e2e/${host}:latest`;
  writeInventory(dir, { images: { [host]: { strata_from: BASE_IMAGE, strata_image: tag } } });
  made.hosts.push(host);
  made.tags.push(tag);
  return { dir, host, tag };
}

function ok(run: Run): Run {
  assert.equal(run.code, 0, run.out);
  return run;
}

describe('long chains', () => {
  it('150 tasks build on a loaded machine, rebuild from the cache, and stay under overlay2\'s 125-layer limit', async () => {
    const { dir, host, tag } = project();
    // One module run a task (copy's action makes three): the chain's length
    // is what is tested, and each task's cost is paid 150 times.
    const tasks = Array.from({ length: 150 }, (_, i) => `    - shell: echo ${i} > /chain-${i}\n`).join('');
    writeFileSync(join(dir, 'site.yml'), `- hosts: all\n  gather_facts: false\n  tasks:\n${tasks}`);
    // Every core busy while the chain is flattened (past task 100), as on a
    // shared CI runner: the flattening then takes long.
    const load: ChildProcess[] = [];
    let loaded = false;
    const stopLoad = () => load.splice(0).forEach((hog) => hog.kill('SIGKILL'));
    let cold: Run;
    try {
      cold = ok(
        await startPlaybook(dir, {}, (out) => {
          const built = strataLines(out, host).length;
          if (built >= 90 && built < 115 && !loaded) {
            load.push(...cpus().map(() => spawn('node', ['-e', 'for (;;) {}'], { stdio: 'ignore' })));
            loaded = true;
          }
          if (built >= 115) stopLoad();
        }).ended,
      );
    } finally {
      stopLoad();
    }
    assert.ok(loaded, 'the machine was loaded while the chain was flattened');
    assert.equal(strataLines(cold.out, host).filter((l) => l.startsWith('built, layer')).length, 150);
    const finalLayers = (await layers(tag)).length;
    assert.ok(finalLayers < 126, `the final image has ${finalLayers} layers`);
    assert.equal((await cacheEntries(host)).length, 150, 'every task is its own cache entry');
    let warm!: Run;
    const created = await containersCreatedDuring(() => (warm = ok(playbook(dir))));
    assert.equal(created, 0);
    assert.ok(strataLines(warm.out, host).every((l) => l === 'cached'));
    assert.equal(runInImage(tag, ['sh', '-c', 'cat /chain-0 /chain-149; ls / | grep -c chain-']), '0\n149\n150\n');
    assert.deepEqual(await buildContainers(), []);
  });
});
