import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { keyFilePath, SealingKey, storeValue } from '../../src/cache/stored-value';
import { StrataError } from '../../src/protocol/frames';

// A key file of our own, damaged before it is first read.
const dataHome = mkdtempSync(join(tmpdir(), 'strata-key-'));
mkdirSync(join(dataHome, 'strata'));
writeFileSync(join(dataHome, 'strata', 'secret.key'), 'not a key\n');
const secretKeyPath = () => keyFilePath(dataHome);
const key = new SealingKey(undefined, secretKeyPath());

after(() => rmSync(dataHome, { recursive: true, force: true }));

describe('a damaged sealing key file', () => {
  it('is named, with the fix, instead of failing inside the cipher', () => {
    assert.throws(
      () => storeValue({ secret: 'x' }, key),
      (err: unknown) => err instanceof StrataError && err.message.includes(secretKeyPath()) && /remove it/.test(err.message) && /STRATA_SECRET/.test(err.message),
    );
  });

  it('does not stop values that need no key', () => {
    assert.match(storeValue({ plain: 1 }, undefined), /^z1:/);
  });
});
