import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonical, fingerprint, FingerprintParts } from '../../src/cache/fingerprint';

const parts: FingerprintParts = {
  parent: 'sha256:base',
  host: 'web',
  position: 3,
  inputs: { action: 'ansible.builtin.copy', args: { dest: '/etc/motd', content: 'hi' } },
  cacheable: true,
};

describe('canonical encoding', () => {
  it('sorts keys at every depth, so key order never matters', () => {
    assert.equal(canonical({ b: 1, a: { d: [1, { z: 0, y: null }], c: 'x' } }), '{"a":{"c":"x","d":[1,{"y":null,"z":0}]},"b":1}');
    assert.equal(canonical({ a: 1, b: 2 }), canonical({ b: 2, a: 1 }));
  });

  it('keeps list order and tells types apart', () => {
    assert.notEqual(canonical([1, 2]), canonical([2, 1]));
    assert.notEqual(canonical({ a: '1' }), canonical({ a: 1 }));
    assert.notEqual(canonical({ a: null }), canonical({ a: 'null' }));
    assert.notEqual(canonical({ a: true }), canonical({ a: 'true' }));
  });

  it('encodes bytes distinctly from strings', () => {
    assert.equal(canonical(Buffer.from('hi')), '{"$bytes":"aGk="}');
    assert.notEqual(canonical(Buffer.from('hi')), canonical('hi'));
  });
});

describe('fingerprint', () => {
  it('is the same for the same parts, whatever the key order', () => {
    const reordered = { ...parts, inputs: { args: { content: 'hi', dest: '/etc/motd' }, action: 'ansible.builtin.copy' } };
    assert.equal(fingerprint(parts), fingerprint(reordered));
    assert.match(fingerprint(parts), /^[0-9a-f]{64}$/);
  });

  for (const [what, change] of [
    ['parent', { parent: 'sha256:other' }],
    ['host', { host: 'db' }],
    ['position', { position: 4 }],
    ['templated args', { inputs: { ...parts.inputs, args: { dest: '/etc/motd', content: 'hello' } } }],
  ] as const) {
    it(`changes with the ${what}`, () => {
      assert.notEqual(fingerprint(parts), fingerprint({ ...parts, ...change }));
    });
  }

  it('is never the same twice for a task that is not cacheable', () => {
    const once = { ...parts, cacheable: false };
    assert.notEqual(fingerprint(once), fingerprint(once));
    assert.notEqual(fingerprint(once), fingerprint(parts));
  });
});
