import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { blobTagsOf } from '../../src/cache/blob-store';
import { fileOfTar, tarOfOneFile } from '../../src/docker/tar';

/** `bytes` as Docker's archive API might stream them: in chunks of `size`. */
const inChunks = (bytes: Buffer, size: number) => Readable.from(Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size)));

describe('large stored values', () => {
  it('make a tar that tar itself reads back, and read it back the same, however it is chunked', async () => {
    const data = Buffer.from('x'.repeat(70_000) + 'end');
    const tar = Buffer.concat(tarOfOneFile('value', [data.subarray(0, 3), data.subarray(3)]));
    assert.equal(tar.length % 512, 0);
    for (const size of [1, 7, 512, 4096, tar.length]) assert.deepEqual(await fileOfTar(inChunks(tar, size)), data, `chunks of ${size}`);
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

  it('read the first file of an archive tar wrote, past other entries', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-tar-'));
    try {
      writeFileSync(join(dir, 'value'), 'hello\n');
      const made = spawnSync('tar', ['--format=pax', '-cf', '-', 'value'], { cwd: dir });
      assert.equal((await fileOfTar(inChunks(made.stdout, 100)))?.toString(), 'hello\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('are named by the labels that hold references to them', () => {
    assert.deepEqual(blobTagsOf({ 'strata.result': 'r2:abc', 'strata.inputs': 'r1:def', 'strata.task': 'copy', 'strata.x': 'z1:xyz' }), ['blob-abc', 'blob-def']);
  });
});
