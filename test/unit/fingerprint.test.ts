import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonical, fingerprint, FINGERPRINT_SCHEMA, FingerprintParts, sha256 } from '../../src/cache/fingerprint';

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
    ['mounted runtime', { runtime: 'a1b2c3' }],
  ] as const) {
    it(`changes with the ${what}`, () => {
      assert.notEqual(fingerprint(parts), fingerprint({ ...parts, ...change }));
    });
  }

  it('of a task with no mounted runtime is what it was before runtimes existed', () => {
    // Entries built with the image's own Python stay valid across the upgrade that added runtimes.
    const before = sha256(canonical({ schema: FINGERPRINT_SCHEMA, parent: parts.parent, host: parts.host, position: parts.position, inputs: parts.inputs, nonce: '' }));
    assert.equal(fingerprint(parts), before);
    assert.notEqual(fingerprint({ ...parts, runtime: 'a1b2c3' }), fingerprint({ ...parts, runtime: 'd4e5f6' }));
  });

  it('is never the same twice for a task that is not cacheable', () => {
    const once = { ...parts, cacheable: false };
    assert.notEqual(fingerprint(once), fingerprint(once));
    assert.notEqual(fingerprint(once), fingerprint(parts));
  });
});
