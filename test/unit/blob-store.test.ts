import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { blobTagsOf, fileOfTar, tarOfOneFile } from '../../src/cache/blob-store';

describe('large stored values', () => {
  it('make a tar that tar itself reads back, and read it back the same', () => {
    const data = Buffer.from('x'.repeat(70_000) + 'end');
    const tar = tarOfOneFile('value', data);
    assert.equal(tar.length % 512, 0);
    assert.deepEqual(fileOfTar(tar), data);
    const dir = mkdtempSync(join(tmpdir(), 'strata-tar-'));
    try {
      writeFileSync(join(dir, 'one.tar'), tar);
      const listed = spawnSync('tar', ['-xf', 'one.tar'], { cwd: dir, encoding: 'utf8' });
      assert.equal(listed.status, 0, listed.stderr);
      assert.deepEqual(readFileSync(join(dir, 'value')), data);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('read the first file of an archive tar wrote, past other entries', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-tar-'));
    try {
      writeFileSync(join(dir, 'value'), 'hello\n');
      const made = spawnSync('tar', ['--format=pax', '-cf', '-', 'value'], { cwd: dir });
      assert.equal(fileOfTar(made.stdout)?.toString(), 'hello\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('are named by the labels that hold references to them', () => {
    assert.deepEqual(blobTagsOf({ 'strata.result': 'r1:abc', 'strata.inputs': 'z1:xyz', 'strata.task': 'copy' }), ['blob-abc']);
  });
});
