// What a play sees is what stock Ansible shows it: the names of every task
// variable and hostvar, and the values of the connection, interpreter, shell
// and become variables, as a template action renders them, as a module's
// args are templated and as the controller templates them
// (test/fixtures/play-vars), under stock `linear` into plain containers of
// the same base and under strata, cold and from the cache. They must be
// equal but for what the stock inventory sets on purpose to reach its
// containers, and the strata_* variables of strata's.

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { safeName } from '../../src/docker/containers';
import { BASE_IMAGE, command, copyProject, playbook, removeImages, Run, strataLines, unique, writeInventory } from './harness';

// One host Ansible discovers the interpreter of; one whose inventory names its
// own interpreter, temporary directory and shell.
const HOSTS: Record<string, Record<string, unknown>> = {
  [unique('discovers')]: {},
  [unique('own')]: { ansible_python_interpreter: '/usr/bin/python3.11', ansible_remote_tmp: '/var/tmp/own', ansible_shell_executable: '/bin/bash' },
};
const STOCK_ONLY = ['ansible_connection', 'ansible_host'];
const tagOf = (host: string) => `strata-e2e/${host}:latest`;

type Seen = Record<string, { vars: string[]; hostvars: string[]; values: Record<string, unknown> }>;

/** Per host, what it saw (template, args, controller), without what the inventories set for themselves. */
function seen(run: Run): Record<string, Seen> {
  assert.equal(run.code, 0, run.out);
  const found: Record<string, Seen> = {};
  const section = run.out.split(/\nTASK \[play-vars: seen\] \**\n/)[1] ?? '';
  for (const match of section.matchAll(/^ok: \[([^\]]+)\] => (\{\n[\s\S]*?\n\})$/gm)) {
    const views: Seen = JSON.parse(match[2]).msg;
    for (const view of Object.values(views)) {
      const own = (name: string) => name.startsWith('strata_') || STOCK_ONLY.includes(name);
      view.vars = view.vars.filter((n) => !own(n));
      view.hostvars = view.hostvars.filter((n) => !own(n));
      for (const name of STOCK_ONLY) delete view.values[name];
    }
    found[match[1]] = views;
  }
  assert.deepEqual(Object.keys(found).sort(), Object.keys(HOSTS).sort(), run.out);
  return found;
}

describe('what a play sees', () => {
  const dir = copyProject('test/fixtures/play-vars');
  after(() => removeImages(Object.keys(HOSTS).map(tagOf), Object.keys(HOSTS)));

  it('is what stock Ansible shows it, cold and from the cache', () => {
    const containers = Object.fromEntries(Object.keys(HOSTS).map((h) => [h, `strata-stock-${h}`]));
    let stock: Run;
    try {
      for (const [host, container] of Object.entries(containers)) {
        command('docker', ['run', '-d', '--name', container, '--hostname', safeName(host), BASE_IMAGE, 'sleep', 'infinity']);
      }
      writeInventory(dir, {
        images: Object.fromEntries(Object.entries(HOSTS).map(([h, vars]) => [h, { ...vars, ansible_connection: 'community.docker.docker', ansible_host: containers[h] }])),
      });
      stock = playbook(dir, [], {}, true);
    } finally {
      for (const container of Object.values(containers)) command('docker', ['rm', '-f', container]);
    }
    writeInventory(dir, {
      images: Object.fromEntries(Object.entries(HOSTS).map(([h, vars]) => [h, { ...vars, strata_from: BASE_IMAGE, strata_image: tagOf(h) }])),
    });
    const cold = playbook(dir);
    const cached = playbook(dir);
    const expected = seen(stock);
    for (const host of Object.keys(HOSTS)) {
      // Discovery ran where nothing names the interpreter (its answer is the release's: python3, or 2.22's python3.11).
      const discovered = String(expected[host].args.values['discovered_interpreter_python']);
      assert.match(discovered, HOSTS[host].ansible_python_interpreter ? /^UNDEFINED$/ : /^\/usr\/bin\/python3/);
      assert.ok(strataLines(cached.out, host).every((l) => l === 'cached'), cached.out);
    }
    assert.deepEqual(seen(cold), expected, 'cold');
    assert.deepEqual(seen(cached), expected, 'from the cache');
  });
});
