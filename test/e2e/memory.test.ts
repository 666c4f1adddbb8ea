// What a large result costs the engine: a task that registers 50 MB of
// stdout is built and then replayed from the cache, each by an engine of its
// own (`strata serve`), whose peak resident memory (VmHWM) is read from /proc.
// The engine keeps a result as the packed bytes the plugin sent, streams it
// to its blob and back, and sends it back without copying it into the reply,
// so its peak stays near its own size plus twice the value, not 16 times it.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { blobTagsOf } from '../../src/cache/blob-store';
import { CACHE_REPO } from '../../src/cache/entries';
import { BASE_IMAGE, cacheEntries, copyProject, docker, Engine, playbook, removeImages, Run, serve, strataLines, unique, writeInventory } from './harness';

/** The README's promise for a 50 MB result, cold and cached: under 250 MB. */
const PEAK_LIMIT_MB = 250;

const host = unique('memory');
const tag = `strata-e2e/${host}:latest`;

after(async () => {
  // The blobs the entries name first: they carry no host label of their own.
  for (const entry of await cacheEntries(host)) {
    for (const blob of blobTagsOf(entry.Labels ?? {})) await docker.getImage(`${CACHE_REPO}:${blob}`).remove().catch(() => undefined);
  }
  await removeImages([tag], [host]);
});

/** The engine's peak resident memory so far, in MB, as the kernel counts it. */
function peakMb(engine: Engine): number {
  const status = readFileSync(`/proc/${engine.process.pid}/status`, 'utf8');
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(status);
  assert.ok(kb, `no VmHWM in /proc/${engine.process.pid}/status`);
  return Number(kb[1]) / 1024;
}

/** Builds the playbook in `dir` on a fresh engine: the run, and the engine's peak. */
async function buildOnFreshEngine(dir: string): Promise<{ run: Run; peak: number }> {
  const engine = await serve();
  try {
    const run = playbook(dir, [], { STRATA_ENGINE: engine.address, STRATA_TOKEN: engine.token });
    assert.equal(run.code, 0, run.out);
    return { run, peak: peakMb(engine) };
  } finally {
    await engine.stop();
  }
}

describe('a task that registers 50 MB of stdout', () => {
  it('builds and replays with the engine under 250 MB', async (t) => {
    const dir = copyProject('test/fixtures/small');
    writeInventory(dir, { images: { [host]: { strata_from: BASE_IMAGE, strata_image: tag } } });
    // 37.5 MB of random bytes in base64 lines: 50.6 MB of text that deflate cannot shrink much.
    // The summary is the replayed value's: a replay that differed would build the copy again.
    writeFileSync(
      join(dir, 'site.yml'),
      `- hosts: all
  gather_facts: false
  tasks:
    - shell: head -c 37500000 /dev/urandom | base64 -w 76
      register: big
    - copy:
        content: "{{ big.stdout | length }} {{ big.stdout_lines | length }} {{ big.stdout | hash('sha1') }}"
        dest: /summary
`,
    );
    const cold = await buildOnFreshEngine(dir);
    const cached = await buildOnFreshEngine(dir);
    t.diagnostic(`engine peak: cold ${cold.peak.toFixed(0)} MB (${cold.run.seconds} s), cached ${cached.peak.toFixed(0)} MB (${cached.run.seconds} s)`);
    assert.deepEqual(strataLines(cached.run.out, host), ['cached', 'cached'], cached.run.out);
    assert.ok(cold.peak < PEAK_LIMIT_MB, `the engine peaked at ${cold.peak.toFixed(0)} MB building it`);
    assert.ok(cached.peak < PEAK_LIMIT_MB, `the engine peaked at ${cached.peak.toFixed(0)} MB replaying it`);
  });
});
