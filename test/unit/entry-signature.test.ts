import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { entrySignature, isSignedBy, SIGNATURE_LABEL } from '../../src/cache/entry-signature';
import { SealingKey } from '../../src/cache/stored-value';

const key = new SealingKey('shared by every machine', '/nonexistent');
const labels = { 'strata.fingerprint': 'f'.repeat(64), 'strata.parent': 'p'.repeat(64), 'strata.kind': 'layer', 'strata.result': 'z1:abc', 'strata.inputs': 'z1:def' };
const layers = ['sha256:base', 'sha256:task'];
const signed = { ...labels, [SIGNATURE_LABEL]: entrySignature(key, labels, layers) };

describe('an entry signature', () => {
  it('holds for the labels and layers it was made for, under the same key', () => {
    assert.ok(isSignedBy(key, signed, layers));
    assert.ok(isSignedBy(new SealingKey('shared by every machine', '/elsewhere'), signed, layers));
  });

  it('fails for other layers, other labels, another key, or none', () => {
    assert.ok(!isSignedBy(key, signed, ['sha256:base', 'sha256:planted']), 'labels copied onto another layer');
    assert.ok(!isSignedBy(key, signed, ['sha256:base']), 'labels copied onto the parent alone');
    assert.ok(!isSignedBy(key, { ...signed, 'strata.result': 'z1:forged' }, layers));
    assert.ok(!isSignedBy(new SealingKey('another machine', '/nonexistent'), signed, layers));
    assert.ok(!isSignedBy(key, labels, layers));
    assert.ok(!isSignedBy(key, { ...labels, [SIGNATURE_LABEL]: 'not hex' }, layers));
  });
});
