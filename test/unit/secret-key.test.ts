import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { keyFilePath, packValue, seal, SealingKey, storedText } from '../../src/cache/stored-value';
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
      () => storedText(seal(packValue({ secret: 'x' }), key)),
      (err: unknown) => err instanceof StrataError && err.message.includes(secretKeyPath()) && /remove it/.test(err.message) && /STRATA_SECRET/.test(err.message),
    );
  });

  it('is named by check(), before any value is sealed', () => {
    assert.throws(() => new SealingKey(undefined, secretKeyPath()).check(), /does not hold a key/);
  });

  it('does not stop values that need no key', () => {
    assert.match(storedText(seal(packValue({ plain: 1 }), undefined)), /^z1:/);
  });
});

describe('a sealing key file that cannot be used', () => {
  const cases: [string, (dir: string) => string][] = [
    ['a dangling symlink', (dir) => {
      mkdirSync(join(dir, 'strata'));
      symlinkSync(join(dir, 'nowhere'), join(dir, 'strata', 'secret.key'));
      return keyFilePath(dir);
    }],
    ['a directory', (dir) => {
      mkdirSync(join(dir, 'strata', 'secret.key'), { recursive: true });
      return keyFilePath(dir);
    }],
    ['under a data home that is a file', (dir) => {
      writeFileSync(join(dir, 'file'), '');
      return keyFilePath(join(dir, 'file'));
    }],
  ];
  for (const [what, make] of cases) {
    it(`is named, with the fix, when it is ${what}`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'strata-key-'));
      try {
        const path = make(dir);
        assert.throws(
          () => storedText(seal(packValue({ secret: 'x' }), new SealingKey(undefined, path))),
          (err: unknown) => err instanceof StrataError && err.message.includes(path) && /STRATA_SECRET/.test(err.message),
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  for (const [what, make] of cases) {
    it(`is named by check() when it is ${what}`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'strata-key-'));
      try {
        const path = make(dir);
        assert.throws(() => new SealingKey(undefined, path).check(), (err: unknown) => err instanceof StrataError && err.message.includes(path));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('is not made by check() when absent: only a sealed value makes it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-key-'));
    try {
      new SealingKey(undefined, keyFilePath(dir)).check();
      assert.equal(existsSync(keyFilePath(dir)), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('may hold its key in upper-case hex', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-key-'));
    try {
      mkdirSync(join(dir, 'strata'));
      writeFileSync(join(dir, 'strata', 'secret.key'), 'AB'.repeat(32));
      assert.match(storedText(seal(packValue({ secret: 'x' }), new SealingKey(undefined, keyFilePath(dir)))), /^e1:/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
