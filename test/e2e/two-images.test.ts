// Two images from one play, through the constructs a real playbook uses:
// the cached rebuild must give the same recap and start no container.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  BASE_IMAGE,
  buildContainers,
  copyProject,
  playbook,
  rebuildFromCache,
  recap,
  removeImages,
  Run,
  runInImage,
  unique,
  writeInventory,
} from './harness';

const api = unique('api');
const worker = unique('worker');
const tagOf = (host: string) => `strata-e2e/${host}:latest`;
let dir: string;
let cold: Run;

before(() => {
  dir = copyProject('test/fixtures/twohosts');
  writeInventory(dir, {
    images: {
      [api]: { strata_from: BASE_IMAGE, strata_image: tagOf(api), kind: 'api' },
      [worker]: { strata_from: BASE_IMAGE, strata_image: tagOf(worker), kind: 'worker' },
    },
  });
});

after(() => removeImages([tagOf(api), tagOf(worker)], [api, worker]));

function cat(host: string, path: string): string {
  return runInImage(tagOf(host), ['cat', path]);
}

describe('two images with roles, handlers, block/rescue, loops and includes', () => {
  it('builds both images cold', async () => {
    cold = playbook(dir);
    assert.equal(cold.code, 0, cold.out);
    const stats = recap(cold.out);
    assert.equal(stats[api].rescued, 1);
    assert.equal(stats[api].ignored, 1);
    assert.equal(stats[worker].failed, 0);
    for (const host of [api, worker]) {
      const kind = host === api ? 'api' : 'worker';
      assert.equal(cat(host, '/etc/motd'), `hello from ${kind}\n`);
      assert.equal(runInImage(tagOf(host), ['hello']), `hello from ${kind}\n`);
      assert.equal(cat(host, '/etc/built-on'), `${kind} on debian 12.${cat(host, '/etc/debian_version').trim().split('.')[1]}\n`);
      assert.equal(cat(host, '/rescued'), 'rescued Fail on purpose\n');
      assert.equal(cat(host, '/always'), 'always');
      // "{{ ignored.rc }}\n" renders with its newline before ansible-core 2.19, without it since (stock Ansible alike).
      assert.equal(cat(host, '/ignored-rc').trim(), '1');
      assert.equal(cat(host, '/echoes'), 'a,b,c\n');
      assert.equal(cat(host, '/handled'), 'handled');
      assert.equal(cat(host, '/role-handled'), 'role-handled');
    }
    assert.match(runInImage(tagOf(api), ['ls', '/srv/api']), /models\nroutes/);
    assert.match(runInImage(tagOf(worker), ['ls', '-ld', '/var/spool/worker']), /^drwx------/);
    assert.deepEqual(await buildContainers(), []);
  });

  it('rebuilds both from the cache: same recap, the same rescue path, no container', async () => {
    const warm = await rebuildFromCache(dir, cold, [api, worker], 10);
    assert.match(warm.out, /TASK \[Record the rescue\]/);
    assert.match(warm.out, /RUNNING HANDLER \[shared : Record the role handler\]/);
    assert.match(warm.out, /changed: \[.*\] => \(item=a\)|ok: \[.*\] => \(item=a\)/, 'loop items are shown again');
  });
});
