import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainDifference } from '../../src/cache/explain';

const base = {
  schema: 1,
  action: 'ansible.builtin.template',
  args: { src: 'config.ini.j2', dest: '/etc/app.ini', mode: '0644' },
  become: false,
  environment: [],
  files: [{ arg: 'src', path: 'config.ini.j2', sha256: 'aaa', mode: 420 }],
};

function explain(now: object, before: object = base, parentDiffers = false) {
  return explainDifference({ now: now as Record<string, unknown>, before: before as Record<string, unknown>, parentDiffers, baseDiffers: false });
}

describe('explainDifference', () => {
  it('names a template whose rendered content changed', () => {
    assert.deepEqual(explain({ ...base, files: [{ ...base.files[0], sha256: 'bbb' }] }), ['template src config.ini.j2: rendered content changed']);
  });

  it('names the mounted Python runtime, there or not or another', () => {
    const reason = ['the Python runtime strata mounts (strata_python, or a base that gained or lost Python) changed'];
    assert.deepEqual(explain({ ...base, mounted_runtime: 'a1' }), reason);
    assert.deepEqual(explain({ ...base, mounted_runtime: 'b2' }, { ...base, mounted_runtime: 'a1' }), reason);
  });

  it('names the args that variables changed', () => {
    assert.deepEqual(explain({ ...base, args: { ...base.args, dest: '/etc/other.ini', mode: '0600' } }), ['variable-rendered args changed: dest, mode']);
  });

  it('names copied files that changed, appeared, or are no longer read', () => {
    const copy = { ...base, action: 'ansible.builtin.copy', files: [{ arg: 'src', path: 'app/a.py', sha256: '1', mode: 420 }, { arg: 'src', path: 'app/b.py', sha256: '2', mode: 420 }] };
    const now = { ...copy, files: [{ arg: 'src', path: 'app/a.py', sha256: '9', mode: 420 }, { arg: 'src', path: 'app/c.py', sha256: '3', mode: 420 }] };
    assert.deepEqual(explain(now, copy), [
      'file src app/a.py: content changed',
      'file src app/c.py: read for the first time',
      'file src app/b.py: no longer read',
    ]);
  });

  it('names a mode change and a keyword change', () => {
    assert.deepEqual(explain({ ...base, become: true, files: [{ ...base.files[0], mode: 493 }] }), [
      'template src config.ini.j2: mode changed',
      'become changed',
    ]);
  });

  it('tells loop items apart', () => {
    const loop = { schema: 1, action: 'ansible.builtin.file', items: [{ item: 'a', args: { path: '/a' } }, { item: 'b', args: { path: '/b' } }] };
    assert.deepEqual(explain({ ...loop, items: [loop.items[0], { item: 'c', args: { path: '/c' } }] }, loop), ['loop item 2 changed']);
    assert.deepEqual(explain({ ...loop, items: [loop.items[0]] }, loop), ['loop items changed: 2 items, now 1']);
  });

  it('blames an earlier task when the inputs are the same but the parent is not', () => {
    assert.deepEqual(explain(base, base, true), ['an earlier task in the chain changed, so this task has another parent']);
  });

  it('says so when the inputs cannot be read', () => {
    assert.match(explainDifference({ now: undefined, before: base, parentDiffers: false, baseDiffers: false })[0], /cannot be read here/);
  });
});
