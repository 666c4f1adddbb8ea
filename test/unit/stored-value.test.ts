import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

// A key file of our own, made before the module reads the environment.
process.env.XDG_DATA_HOME = mkdtempSync(join(tmpdir(), 'strata-key-'));
delete process.env.STRATA_SECRET;

import { loadValue, secretKeyPath, storeValue } from '../../src/cache/stored-value';

after(() => rmSync(process.env.XDG_DATA_HOME!, { recursive: true, force: true }));

const result = { changed: true, stdout: 'the password is hunter2', results: [{ item: 1 }] };

describe('stored values', () => {
  it('round-trip in the clear', () => {
    const text = storeValue(result, false);
    assert.match(text, /^z1:/);
    assert.deepEqual(loadValue(text), result);
  });

  it('seal a secret so its text appears nowhere in the label', () => {
    const text = storeValue(result, true);
    assert.match(text, /^e1:/);
    assert.doesNotMatch(Buffer.from(text.slice(3), 'base64').toString('latin1'), /hunter2/);
    assert.deepEqual(loadValue(text), result);
  });

  it('keep the sealing key in a file only its owner can read', () => {
    storeValue(result, true);
    assert.equal(statSync(secretKeyPath()).mode & 0o777, 0o600);
    assert.equal(readFileSync(secretKeyPath(), 'utf8').trim().length, 64);
  });

  it('give undefined, not an exception, for damaged or foreign values', () => {
    assert.equal(loadValue(undefined), undefined);
    assert.equal(loadValue(''), undefined);
    assert.equal(loadValue('z1:not-deflate'), undefined);
    const sealed = storeValue(result, true);
    const tampered = sealed.slice(0, -4) + (sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    assert.equal(loadValue(tampered), undefined);
    assert.equal(loadValue('x9:whatever'), undefined);
  });
});
