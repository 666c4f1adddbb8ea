// examples/multistage, built for real: a Debian builder compiles a static
// binary and fetches it to the controller; a BusyBox runtime copies it in.
// Cold, rebuilt with the fetched copy gone, and after an edit of the source.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import {
  buildContainers,
  containersCreatedDuring,
  copyProject,
  filesOfImage,
  inspect,
  layers,
  playbook,
  recap,
  removeImages,
  Run,
  strataLines,
  unique,
  writeInventory,
} from './harness';

const builder = unique('hello-builder');
const runtime = unique('hello');
const hosts = [builder, runtime];
const tagOf = (host: string) => `strata-e2e/${host}:latest`;
let dir: string;
let cold: Run;
let fetched: Buffer;
let coldIds: string[];
let coldRuntimeLayers: string[];

const fetchedPath = () => join(dir, 'build/hello');
const imageIds = () => Promise.all(hosts.map(async (host) => (await inspect(tagOf(host))).Id));

/** What the runtime image says when run with its own command. */
function runImage(): string {
  const run = spawnSync('docker', ['run', '--rm', tagOf(runtime)], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout;
}

before(() => {
  dir = copyProject('examples/multistage');
  rmSync(join(dir, 'build'), { recursive: true, force: true }); // left by a run of the example by hand
  const groups = parse(readFileSync(join(dir, 'inventory.yml'), 'utf8')).all.children;
  writeInventory(dir, {
    builders: { [builder]: { ...groups.builders.hosts['hello-builder'], strata_image: tagOf(builder) } },
    runtimes: { [runtime]: { ...groups.runtimes.hosts.hello, strata_image: tagOf(runtime) } },
  });
});

after(() => removeImages(hosts.map(tagOf), hosts));

describe('the multi-stage example', () => {
  it('builds cold: the runtime image is BusyBox, the binary and its config, a few MB', async (t) => {
    const created = await containersCreatedDuring(() => (cold = playbook(dir)), 'create', hosts);
    assert.equal(cold.code, 0, cold.out);
    t.diagnostic(`cold build: ${cold.seconds.toFixed(1)} s`);
    assert.ok(created > 0);
    for (const [host, tasks] of [[builder, 4], [runtime, 2]] as const) {
      const lines = strataLines(cold.out, host);
      assert.equal(lines.length, tasks, lines.join('\n'));
      assert.ok(lines.every((l) => l.startsWith('built')), lines.join('\n'));
    }
    fetched = readFileSync(fetchedPath());
    assert.equal(fetched.subarray(0, 4).toString('latin1'), '\x7fELF');

    assert.equal(runImage(), 'Hello from a multi-stage build, from a static binary on BusyBox\n');
    const image = await inspect(tagOf(runtime));
    assert.deepEqual(image.Config.Cmd, ['/usr/local/bin/hello']);
    assert.ok(image.Size < 4e6, `the runtime image is ${image.Size} bytes`);
    const base = filesOfImage('strata-base:busybox');
    const added = [...filesOfImage(tagOf(runtime))].filter((p) => !base.has(p)).sort();
    assert.deepEqual(added, ['etc/hello.conf', 'usr/local', 'usr/local/bin', 'usr/local/bin/hello'].filter((p) => !base.has(p)));
    coldIds = await imageIds();
    coldRuntimeLayers = await layers(tagOf(runtime));
    assert.deepEqual(await buildContainers(hosts), []);
  });

  it('rebuilds with nothing changed from the cache alone, and writes the fetched file back', async () => {
    rmSync(fetchedPath());
    let warm!: Run;
    const created = await containersCreatedDuring(() => (warm = playbook(dir)), 'create', hosts);
    assert.equal(warm.code, 0, warm.out);
    assert.deepEqual(readFileSync(fetchedPath()), fetched, 'the fetched file is back, the same bytes');
    assert.deepEqual(recap(warm.out), recap(cold.out));
    assert.deepEqual(strataLines(warm.out, runtime), ['cached', 'cached']);
    assert.deepEqual(strataLines(warm.out, builder), ['cached', 'cached', 'cached', 'cached'], 'fetch comes from the cache');
    assert.deepEqual(await imageIds(), coldIds, 'both images are the same images');
    assert.equal(created, 0, 'no container for either host');
  });

  it('an edit of the C source rebuilds the compile, the fetch and the runtime\'s copy of the binary only', async () => {
    const source = join(dir, 'files/hello.c');
    writeFileSync(source, readFileSync(source, 'utf8').replace('from a static binary', 'from an edited binary'));
    const edited = playbook(dir);
    assert.equal(edited.code, 0, edited.out);
    const [apt, ...rest] = strataLines(edited.out, builder);
    assert.equal(apt, 'cached', 'the compiler comes from the cache');
    assert.deepEqual(rest.map((l) => l.split(',')[0]), ['built', 'built', 'built'], 'the source copy, the compile and the fetch run');
    const [config, binary] = strataLines(edited.out, runtime);
    assert.equal(config, 'cached');
    assert.match(binary, /^built, layer/);
    assert.notDeepEqual(readFileSync(fetchedPath()), fetched);
    assert.equal(runImage(), 'Hello from a multi-stage build, from an edited binary on BusyBox\n');
    const now = await layers(tagOf(runtime));
    assert.deepEqual(now.slice(0, -1), coldRuntimeLayers.slice(0, -1), 'the base and config layers are the same');
    assert.notDeepEqual(now, coldRuntimeLayers);
  });
});
