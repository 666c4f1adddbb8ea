import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { keyFilePath, loadValue, SealingKey, storeValue } from '../../src/cache/stored-value';

// A key file of our own.
const dataHome = mkdtempSync(join(tmpdir(), 'strata-key-'));
const secretKeyPath = () => keyFilePath(dataHome);
const key = new SealingKey(undefined, secretKeyPath());

after(() => rmSync(dataHome, { recursive: true, force: true }));

const result = { changed: true, stdout: 'the password is hunter2', results: [{ item: 1 }] };

describe('stored values', () => {
  it('round-trip in the clear', () => {
    const text = storeValue(result, undefined);
    assert.match(text, /^z1:/);
    assert.deepEqual(loadValue(text, key), result);
  });

  it('seal a secret so its text appears nowhere in the label', () => {
    const text = storeValue(result, key);
    assert.match(text, /^e1:/);
    assert.doesNotMatch(Buffer.from(text.slice(3), 'base64').toString('latin1'), /hunter2/);
    assert.deepEqual(loadValue(text, key), result);
  });

  it('keep the sealing key in a file only its owner can read', () => {
    storeValue(result, key);
    assert.equal(statSync(secretKeyPath()).mode & 0o777, 0o600);
    assert.equal(readFileSync(secretKeyPath(), 'utf8').trim().length, 64);
  });

  it('give undefined, not an exception, for damaged or foreign values', () => {
    assert.equal(loadValue(undefined, key), undefined);
    assert.equal(loadValue('', key), undefined);
    assert.equal(loadValue('z1:not-deflate', key), undefined);
    const sealed = storeValue(result, key);
    const tampered = sealed.slice(0, -4) + (sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    assert.equal(loadValue(tampered, key), undefined);
    assert.equal(loadValue('x9:whatever', key), undefined);
  });
});
