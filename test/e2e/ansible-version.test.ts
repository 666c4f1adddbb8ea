// The version matrix runs these end-to-end tests once per ansible-core
// (make test-ansible-versions puts that release's ansible-playbook first on
// PATH and names it in STRATA_TEST_ANSIBLE): make sure the run really uses it.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';

it('runs the ansible-core release the matrix asked for', () => {
  const result = spawnSync('ansible-playbook', ['--version'], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  const found = /ansible-playbook \[core (\d+\.\d+)/.exec(result.stdout)?.[1];
  const wanted = process.env.STRATA_TEST_ANSIBLE;
  assert.ok(found, result.stdout);
  if (wanted) assert.equal(found, wanted);
  else assert.equal(result.stdout.includes('/usr/lib/python3/dist-packages/ansible'), true, 'without the matrix, Debian 12\'s own ansible-core');
});
