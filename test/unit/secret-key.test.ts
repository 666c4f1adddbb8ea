import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

// A key file of our own, damaged before the module first reads it.
process.env.XDG_DATA_HOME = mkdtempSync(join(tmpdir(), 'strata-key-'));
delete process.env.STRATA_SECRET;
mkdirSync(join(process.env.XDG_DATA_HOME, 'strata'));
writeFileSync(join(process.env.XDG_DATA_HOME, 'strata', 'secret.key'), 'not a key\n');

import { secretKeyPath, storeValue } from '../../src/cache/stored-value';
import { StrataError } from '../../src/protocol/frames';

after(() => rmSync(process.env.XDG_DATA_HOME!, { recursive: true, force: true }));

describe('a damaged sealing key file', () => {
  it('is named, with the fix, instead of failing inside the cipher', () => {
    assert.throws(
      () => storeValue({ secret: 'x' }, true),
      (err: unknown) => err instanceof StrataError && err.message.includes(secretKeyPath()) && /remove it/.test(err.message) && /STRATA_SECRET/.test(err.message),
    );
  });

  it('does not stop values that need no key', () => {
    assert.match(storeValue({ plain: 1 }, false), /^z1:/);
  });
});
