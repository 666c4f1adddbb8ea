import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import {
  keyFilePath,
  openStored,
  packValue,
  parseStoredFile,
  parseStoredText,
  seal,
  SealingKey,
  storedText,
  storedTextLength,
  unpackValue,
} from '../../src/cache/stored-value';

// A key file of our own.
const dataHome = mkdtempSync(join(tmpdir(), 'strata-key-'));
const secretKeyPath = () => keyFilePath(dataHome);
const key = new SealingKey(undefined, secretKeyPath());

after(() => rmSync(dataHome, { recursive: true, force: true }));

const result = { changed: true, stdout: 'the password is hunter2', results: [{ item: 1 }] };

/** The label text a value is kept as. */
const store = (value: unknown, sealWith?: SealingKey) => storedText(seal(packValue(value), sealWith));
/** The value a label text holds, as a hit gives it to the plugin: packed. */
const load = (text: string | undefined) => unpackValue(openStored(parseStoredText(text), key));

describe('stored values', () => {
  it('round-trip in the clear', () => {
    const text = store(result);
    assert.match(text, /^z1:/);
    assert.deepEqual(load(text), result);
  });

  it('keep a packed result as the very bytes it came as', () => {
    const packed = packValue(result);
    const stored = seal(packed, undefined);
    assert.equal(stored.bytes, packed);
    assert.deepEqual(openStored(parseStoredText(storedText(stored)), key), packed);
  });

  it('seal a secret so its text appears nowhere in the label', () => {
    const text = store(result, key);
    assert.match(text, /^e1:/);
    assert.doesNotMatch(Buffer.from(text.slice(3), 'base64').toString('latin1'), /hunter2/);
    assert.deepEqual(load(text), result);
  });

  it('read the same from a blob file, which holds the bytes rather than base64', () => {
    for (const sealWith of [undefined, key]) {
      const stored = seal(packValue(result), sealWith);
      const file = Buffer.concat([Buffer.from(stored.prefix), stored.bytes]);
      assert.deepEqual(unpackValue(openStored(parseStoredFile(file), key)), result);
      assert.equal(storedTextLength(stored), storedText(stored).length);
    }
  });

  it('keep the sealing key in a file only its owner can read', () => {
    store(result, key);
    assert.equal(statSync(secretKeyPath()).mode & 0o777, 0o600);
    assert.equal(readFileSync(secretKeyPath(), 'utf8').trim().length, 64);
  });

  it('give undefined, not an exception, for damaged or foreign values', () => {
    assert.equal(load(undefined), undefined);
    assert.equal(load(''), undefined);
    assert.equal(load('z1:not-deflate'), undefined);
    const sealed = store(result, key);
    const tampered = sealed.slice(0, -4) + (sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    assert.equal(load(tampered), undefined);
    assert.equal(load('x9:whatever'), undefined);
    assert.equal(parseStoredFile(Buffer.from('x9:whatever')), undefined);
  });

  it('refuse a packed value that is not a map, as no result is', () => {
    assert.equal(openStored(seal(packValue(['a', 'list']), undefined), key), undefined);
    assert.equal(openStored(seal(packValue('text'), key), key), undefined);
    assert.ok(openStored(seal(packValue({}), key), key));
  });
});
