// A host chain's decisions, over in-memory storage: when a task hits or
// misses, which image its container starts from, when a long chain is
// flattened, what a failure or an interruption leaves, and the registry cache.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { packValue, unpackValue } from '../../src/cache/stored-value';
import { FLATTEN_AT } from '../../src/docker/flatten';
import { HostChain, HostChainOptions } from '../../src/engine/host-chain';
import { createLogger } from '../../src/engine/log';
import { parseImageConfig } from '../../src/docker/image-config';
import { HitAhead, StrataError, TaskReply, TaskRequest } from '../../src/protocol/frames';
import { MemoryEntries, MemoryWorkshop, MemoryWorld } from './support/memory-storage';

const HOST = 'web';

function setup(world = new MemoryWorld(), runtime?: { id: string; volume: string; shell: string; python: string }, options: Partial<HostChainOptions> = {}) {
  const base = world.images.get('base') ?? { id: 'base', layers: ['base-layer'], labels: {} };
  world.images.set(base.id, base);
  const warnings: string[] = [];
  const log = createLogger('warn', 'text', (line) => warnings.push(line));
  const chain = new HostChain({
    host: HOST,
    build: 'b1',
    base: { id: base.id, layers: base.layers, ref: 'base:latest', cmd: null, entrypoint: null },
    config: parseImageConfig(HOST, {}),
    tags: ['shop/web:latest'],
    push: false,
    squash: false,
    runtime,
    entries: new MemoryEntries(world),
    workshop: new MemoryWorkshop(world),
    log,
    ahead: world.ahead,
    ...options,
  });
  chain.useScratchFiles({ python: '#!/bin/sh\n' });
  return { world, chain, warnings };
}

let ids = 0;
const task = (label: string, extra: Partial<TaskRequest> = {}): TaskRequest => ({ id: ++ids, type: 'task' as const, host: HOST, label, inputs: { action: 'command', args: { _raw_params: label } }, lookup: true, cacheable: true, invalidates: false, secret: false, ...extra });
const RESULT = { changed: true, stdout: 'ok' };
const done = (outcome: 'commit' | 'discard' = 'commit') => ({ id: ++ids, type: 'task_done' as const, host: HOST, outcome, result: outcome === 'commit' ? packValue(RESULT) : null });

/** Runs `labels` as tasks the way the plugin would: a miss runs (changing files) and commits. */
async function runTasks(chain: HostChain, world: MemoryWorld, labels: string[], extra: (label: string) => Partial<TaskRequest> = () => ({})): Promise<TaskReply[]> {
  const replies: TaskReply[] = [];
  for (const label of labels) {
    const reply = await chain.task(task(label, extra(label)));
    if (reply.outcome === 'miss') {
      world.changeFiles(reply.container);
      await chain.taskDone(done());
    }
    replies.push(reply);
  }
  return replies;
}

const outcomes = (replies: TaskReply[]) => replies.map((r) => r.outcome);

function containerOf(reply: TaskReply): string {
  assert.equal(reply.outcome, 'miss');
  return (reply as { container: string }).container;
}

describe('a host chain', () => {
  it('mounts its runtime into every build container, and a task run with it is another task', async () => {
    const world = new MemoryWorld();
    const runtime = { id: 'r1', volume: 'strata-runtime-r1', shell: '/dev/strata-runtime/bin/sh', python: '/dev/strata-runtime/bin/python3' };
    const mounted = setup(world, runtime);
    const [withRuntime] = await runTasks(mounted.chain, world, ['echo one']);
    assert.deepEqual(world.started[0].runtime, runtime);
    assert.ok(world.started.every((start) => start.runtime === runtime));
    await mounted.chain.close();
    const startedBefore = world.started.length;
    const own = setup(world);
    const [withOwn] = await runTasks(own.chain, world, ['echo one']);
    assert.equal(withOwn.outcome, 'miss', 'the entry made with the mounted runtime is not this task');
    assert.notEqual(withOwn.fingerprint, withRuntime.fingerprint);
    assert.equal(world.started[startedBefore].runtime, undefined);
    await own.chain.close();
  });

  it('with SOURCE_DATE_EPOCH, clamps each commit, gives its containers the epoch, and keeps its entries apart', async () => {
    const world = new MemoryWorld();
    const plain = setup(world);
    const [without] = await runTasks(plain.chain, world, ['echo one']);
    await plain.chain.close();
    assert.equal(world.clamped.length, 0, 'no epoch, no clamp');
    const startedBefore = world.started.length;
    const dated = setup(world, undefined, { epoch: 1700000000 });
    const replies = await runTasks(dated.chain, world, ['echo one', 'echo two']);
    assert.deepEqual(outcomes(replies), ['miss', 'miss'], 'the entry made without the epoch is not this task');
    assert.notEqual(replies[0].fingerprint, without.fingerprint);
    assert.deepEqual(world.clamped.map((c) => c.epoch), [1700000000, 1700000000], 'every commit is clamped');
    assert.ok(world.started.slice(startedBefore).every((start) => start.env?.includes('SOURCE_DATE_EPOCH=1700000000')));
    await dated.chain.close();
    const other = setup(world, undefined, { epoch: 1700000001 });
    assert.equal((await other.chain.task(task('echo one'))).outcome, 'miss', 'nor does another epoch\'s');
    await other.chain.close();
  });

  it('attests its final image with every task, whether it came from the cache, and the layer it left', async () => {
    const world = new MemoryWorld();
    const first = setup(world);
    await runTasks(first.chain, world, ['echo one']);
    await first.chain.close();
    const { chain } = setup(world);
    const replies = await runTasks(chain, world, ['echo one', 'echo two']);
    const inputs = { ansible_core: '2.14.18', playbooks: ['site.yml'], inventories: ['inventory.yml'], files: [{ path: 'site.yml', sha256: 'ab'.repeat(32) }] };
    const finished = await chain.finish(inputs);
    await chain.close();
    const [attested] = world.attested;
    assert.equal(attested.imageId, finished.image);
    assert.deepEqual(attested.inputs, inputs);
    const layers = world.images.get(finished.image)!.layers;
    assert.deepEqual(
      attested.steps.map((s) => [s.position, s.label, s.fingerprint, s.cached, s.layer, s.action]),
      [
        [0, 'echo one', replies[0].fingerprint, true, layers[1], 'command'],
        [1, 'echo two', replies[1].fingerprint, false, layers[2], 'command'],
      ],
    );
  });

  it('starts no container before the plugin has sent its scratch files', async () => {
    const world = new MemoryWorld();
    const base = { id: 'base', layers: ['base-layer'], labels: {} };
    world.images.set(base.id, base);
    const log = createLogger('warn', 'text', () => undefined);
    const chain = new HostChain({
      host: HOST, build: 'b1', base: { ...base, ref: 'base:latest', cmd: null, entrypoint: null }, config: parseImageConfig(HOST, {}),
      tags: [], push: false, squash: false, entries: new MemoryEntries(world), workshop: new MemoryWorkshop(world), log, ahead: world.ahead,
    });
    await assert.rejects(chain.task(task('echo one')), (err: unknown) => err instanceof StrataError && err.code === 'state' && /scratch_files/.test(err.message));
    assert.equal(world.started.length, 0);
    await chain.close();
  });

  it('runs a task that misses in a container from the tip, and commits it as a tagged entry', async () => {
    const { world, chain } = setup();
    const [reply] = await runTasks(chain, world, ['echo one']);
    assert.equal(reply.outcome, 'miss');
    assert.equal(world.started[0].imageId, 'base');
    const entry = world.images.get(world.tags.get(`strata-cache:${reply.fingerprint}`)!)!;
    assert.deepEqual(entry.layers.slice(0, 1), ['base-layer']);
    assert.equal(entry.layers.length, 2);
    const finished = await chain.finish();
    assert.deepEqual(world.images.get(finished.image)!.layers, entry.layers);
    await chain.close();
    assert.equal(world.containers.size, 0, 'no container is left');
  });

  it('removes its containers while the final image is made, cutting short the start of one for a next task that never comes', { timeout: 5000 }, async () => {
    const { world, chain, warnings } = setup();
    const reply = await chain.task(task('echo one'));
    world.changeFiles(containerOf(reply));
    // The container started after the commit, for a next task, would never finish starting by itself.
    world.startGate = new Promise(() => undefined);
    await chain.taskDone(done());
    const finished = await chain.finish();
    assert.equal(world.images.get(finished.image)!.layers.length, 2);
    assert.equal(world.containers.size, 0, 'no container is left once the host is finished');
    assert.deepEqual(warnings, [], 'a start cut short at the end is no news');
    await chain.close();
  });

  it('replays a task the cache holds without starting a container', async () => {
    const world = new MemoryWorld();
    const first = setup(world);
    await runTasks(first.chain, world, ['echo one', 'echo two']);
    await first.chain.close();
    const startedBefore = world.started.length;
    const second = setup(world);
    const replies = await runTasks(second.chain, world, ['echo one', 'echo two']);
    assert.deepEqual(outcomes(replies), ['hit', 'hit']);
    assert.deepEqual(unpackValue((replies[0] as { result: Uint8Array }).result), RESULT);
    await second.chain.finish();
    await second.chain.close();
    assert.equal(world.started.length, startedBefore, 'no container was started');
  });

  it('after a hit, starts the first miss from the hit entry, and everything after it misses', async () => {
    const world = new MemoryWorld();
    const first = setup(world);
    const built = await runTasks(first.chain, world, ['echo one', 'echo two', 'echo three']);
    await first.chain.close();
    const second = setup(world);
    const replies = await runTasks(second.chain, world, ['echo one', 'echo TWO', 'echo three']);
    assert.deepEqual(outcomes(replies), ['hit', 'miss', 'miss']);
    const hitImage = world.tags.get(`strata-cache:${built[0].fingerprint}`);
    assert.equal(world.startedFrom(containerOf(replies[1])), hitImage, 'the miss ran on the hit entry');
    assert.notEqual(replies[2].fingerprint, built[2].fingerprint, 'a changed task changes every fingerprint after it');
    await second.chain.close();
  });

  it('keeps a task that changed no file out of the layers, reusing its container', async () => {
    const { world, chain } = setup();
    const reply = await chain.task(task('true'));
    const committed = await chain.taskDone(done());
    assert.equal(committed.new_layer, false);
    const [next] = await runTasks(chain, world, ['echo two']);
    assert.equal(containerOf(next), containerOf(reply), 'the unchanged container ran the next task too');
    await chain.close();
  });

  it('stops what a task left running before the next task reuses its container, and asks no stop when it left nothing', async () => {
    const { world, chain } = setup();
    const quiet = await chain.task(task('true'));
    await chain.taskDone(done());
    const daemon = await chain.task(task('start a daemon'));
    assert.equal(containerOf(daemon), containerOf(quiet));
    assert.deepEqual(world.stopped, [], 'a task that left nothing running costs no stop');
    world.leaveRunning(containerOf(daemon));
    await chain.taskDone(done());
    const [next] = await runTasks(chain, world, ['echo three']);
    assert.equal(containerOf(next), containerOf(daemon));
    assert.deepEqual(world.stopped, [containerOf(daemon)], 'the daemon was stopped before the next task');
    await chain.close();
  });

  it(`starts containers from a one-layer copy once the chain has ${FLATTEN_AT} layers, and a rebuild still hits every entry`, async () => {
    const world = new MemoryWorld();
    const first = setup(world);
    const labels = Array.from({ length: FLATTEN_AT + 5 }, (_, i) => `echo ${i}`);
    await runTasks(first.chain, world, labels);
    const deepest = Math.max(...world.started.map((s) => world.images.get(s.imageId)!.layers.length));
    assert.ok(deepest <= FLATTEN_AT, `a container started on ${deepest} layers`);
    assert.ok([...world.tags.keys()].some((t) => t.startsWith('strata-flat:')), 'a flattened copy was made');
    await first.chain.close();
    const second = setup(world);
    const replies = await runTasks(second.chain, world, labels);
    assert.ok(replies.every((r) => r.outcome === 'hit'), 'entries built on the flattened copy are proven by its layers');
    await second.chain.close();
  });

  it('keeps the chain where it was after a never-cached task that changed no file, so the tasks after it hit', async () => {
    const world = new MemoryWorld();
    const labels = ['echo one', 'fetch', 'echo three'];
    const oneOff = (label: string) => (label === 'fetch' ? { cacheable: false } : {});
    const first = setup(world);
    const runUnchanged = async (chain: HostChain) => {
      const replies: TaskReply[] = [];
      for (const label of labels) {
        const reply = await chain.task(task(label, oneOff(label)));
        if (reply.outcome === 'miss') {
          if (label !== 'fetch') world.changeFiles(reply.container);
          const committed = await chain.taskDone(done());
          if (label === 'fetch') assert.deepEqual([committed.image, committed.new_layer], [null, false]);
        }
        replies.push(reply);
      }
      return replies;
    };
    const built = await runUnchanged(first.chain);
    await first.chain.close();
    const second = setup(world);
    const again = await runUnchanged(second.chain);
    assert.deepEqual(outcomes(again), ['hit', 'miss', 'hit'], 'the task after the never-cached one hits');
    assert.equal(again[2].fingerprint, built[2].fingerprint);
    await second.chain.close();
  });

  it('breaks the chain after a never-cached task that changed a file, and after `_cacheable: false` whatever it changed', async () => {
    for (const extra of [{ cacheable: false }, { cacheable: false, invalidates: true }]) {
      const world = new MemoryWorld();
      const changes = !extra.invalidates;
      const run = async () => {
        const { chain } = setup(world);
        const replies: TaskReply[] = [];
        for (const label of ['echo one', 'one-off', 'echo three']) {
          const reply = await chain.task(task(label, label === 'one-off' ? extra : {}));
          if (reply.outcome === 'miss') {
            if (label !== 'one-off' || changes) world.changeFiles(reply.container);
            await chain.taskDone(done());
          }
          replies.push(reply);
        }
        await chain.close();
        return replies;
      };
      await run();
      assert.deepEqual(outcomes(await run()), ['hit', 'miss', 'miss'], JSON.stringify(extra));
    }
  });

  it('keeps nothing of a failed task: no entry, and the next task starts afresh from the same tip', async () => {
    const { world, chain } = setup();
    const [built] = await runTasks(chain, world, ['echo one']);
    const failed = await chain.task(task('false'));
    world.changeFiles(containerOf(failed));
    await chain.taskDone(done('discard'));
    assert.equal(world.tags.has(`strata-cache:${failed.fingerprint}`), false);
    assert.equal(world.containers.has(containerOf(failed)), false, 'the failed container was removed');
    const next = await chain.task(task('false'));
    assert.equal(next.fingerprint, failed.fingerprint, 'the same task at the same place');
    assert.notEqual(containerOf(next), containerOf(failed));
    assert.equal(world.startedFrom(containerOf(next)), world.tags.get(`strata-cache:${built.fingerprint}`));
    await chain.close();
    assert.equal(world.containers.size, 0);
  });

  it('leaves no container and no entry when the build is interrupted mid-task', async () => {
    const { world, chain } = setup();
    const reply = await chain.task(task('sleep 100'));
    world.changeFiles(containerOf(reply));
    await chain.close();
    assert.equal(world.containers.size, 0);
    assert.equal(world.tags.has(`strata-cache:${reply.fingerprint}`), false);
  });

  it('refuses an entry whose layers do not extend its parent (and so what was built on it), warning once', async () => {
    const world = new MemoryWorld();
    const first = setup(world);
    const built = await runTasks(first.chain, world, ['echo one', 'echo two']);
    await first.chain.close();
    // Plant: the entry for task one, labels intact, on an image not built on the base.
    const real = world.images.get(world.tags.get(`strata-cache:${built[0].fingerprint}`)!)!;
    const planted = world.addImage(['other-layer', 'planted'], real.labels);
    world.tags.set(`strata-cache:${built[0].fingerprint}`, planted.id);
    const second = setup(world);
    const replies = await runTasks(second.chain, world, ['echo one', 'echo two']);
    // The real entry two extends the real entry one, not the one built again now: it cannot be proven either.
    assert.deepEqual(outcomes(replies), ['miss', 'miss']);
    assert.equal(world.startedFrom(containerOf(replies[0])), 'base');
    assert.equal(second.warnings.filter((w) => /not built on the layers/.test(w)).length, 1);
    await second.chain.close();
  });

  it('continues on the entry another build committed first for the same task, so the two leave one chain', async () => {
    const world = new MemoryWorld();
    const a = setup(world);
    const b = setup(world);
    const [aFirst, bFirst] = [await a.chain.task(task('echo one')), await b.chain.task(task('echo one'))];
    world.changeFiles(containerOf(aFirst));
    world.changeFiles(containerOf(bFirst));
    await a.chain.taskDone(done());
    const winner = world.tags.get(`strata-cache:${aFirst.fingerprint}`);
    const adopted = await b.chain.taskDone(done());
    assert.equal(world.tags.get(`strata-cache:${aFirst.fingerprint}`), winner, 'the entry stays the first build\'s');
    assert.equal(adopted.image, winner, 'the later build takes the entry already there');
    const [bSecond] = await runTasks(b.chain, world, ['echo two']);
    assert.equal(world.startedFrom(containerOf(bSecond)), winner, 'and builds its next task on it');
    await Promise.all([a.chain.close(), b.chain.close()]);
    const third = setup(world);
    assert.deepEqual(outcomes(await runTasks(third.chain, world, ['echo one', 'echo two'])), ['hit', 'hit']);
    await third.chain.close();
  });

  it('commits a task once when two builds finish it at the same moment: the other continues on that entry', async () => {
    const world = new MemoryWorld();
    const [a, b] = [setup(world), setup(world)];
    for (const label of ['echo one', 'echo two', 'echo three']) {
      const replies = await Promise.all([a.chain.task(task(label)), b.chain.task(task(label))]);
      if (replies.every((r) => r.outcome === 'hit')) continue;
      for (const reply of replies) world.changeFiles(containerOf(reply));
      const [doneA, doneB] = await Promise.all([a.chain.taskDone(done()), b.chain.taskDone(done())]);
      assert.equal(doneA.image, doneB.image, `${label}: one entry, whichever build committed it`);
    }
    await Promise.all([a.chain.close(), b.chain.close()]);
    const third = setup(world);
    assert.deepEqual(outcomes(await runTasks(third.chain, world, ['echo one', 'echo two', 'echo three'])), ['hit', 'hit', 'hit']);
    assert.deepEqual(third.warnings, []);
    await third.chain.close();
  });

  it('takes an entry from the registry cache when Docker has none, and shares what it builds', async () => {
    const world = new MemoryWorld();
    const first = setup(world);
    const built = await runTasks(first.chain, world, ['echo one', 'echo two']);
    await first.chain.finish();
    await first.chain.close();
    assert.equal(world.registry.size, 2, 'both entries were shared');
    for (const reply of built) world.tags.delete(`strata-cache:${reply.fingerprint}`);
    const second = setup(world);
    assert.deepEqual(outcomes(await runTasks(second.chain, world, ['echo one', 'echo two'])), ['hit', 'hit']);
    await second.chain.close();
  });

  it('stops asking a registry that lacks a link, and warns once when it cannot be asked', async () => {
    const world = new MemoryWorld();
    world.registryDown = true;
    const { chain, warnings } = setup(world);
    assert.deepEqual(outcomes(await runTasks(chain, world, ['echo one', 'echo two'])), ['miss', 'miss']);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /could not ask registry\.test\/cache for cache entries: connection refused/);
    await chain.close();
  });
});

describe('hits ahead', () => {
  // As the plugin sends tasks: each with its digest (here, its label stands in for one).
  const digested = (label: string) => ({ digest: `digest of ${label}` });
  const aheadOf = (reply: TaskReply): HitAhead[] => (reply.outcome === 'hit' ? (reply.ahead ?? []) : []);

  /** A build of three tasks, then a rebuild's first hit: the world, what was built, and the rebuild's chain and first reply. */
  async function rebuildAfterThree() {
    const world = new MemoryWorld();
    const first = setup(world);
    const built = await runTasks(first.chain, world, ['echo one', 'echo two', 'echo three'], digested);
    await first.chain.finish();
    const startedBefore = world.started.length;
    const { chain } = setup(world);
    const opening = await chain.task(task('echo one', digested('echo one')));
    return { world, built, startedBefore, chain, opening };
  }

  it("tells a rebuild's first hit of the hits that follow, which the plugin then takes without waiting", async () => {
    const { world, built, startedBefore, chain, opening } = await rebuildAfterThree();
    assert.equal(opening.outcome, 'hit');
    assert.deepEqual(
      aheadOf(opening).map((h) => [h.digest, h.fingerprint, unpackValue(h.result)]),
      built.slice(1).map((b, i) => [`digest of echo ${['two', 'three'][i]}`, b.fingerprint, RESULT]),
    );
    for (const hit of aheadOf(opening)) {
      const confirmed = await chain.task(task(hit.digest.replace('digest of ', ''), { expect: hit.fingerprint }));
      assert.deepEqual([confirmed.outcome, confirmed.fingerprint, aheadOf(confirmed)], ['hit', hit.fingerprint, []]);
    }
    const finished = await chain.finish();
    assert.equal(finished.image, world.tags.get('shop/web:latest'));
    assert.equal(world.started.length, startedBefore, 'no container was started');
  });

  it('tells of no hit past a task that came without a digest last time, nor past one built differently since', async () => {
    const world = new MemoryWorld();
    const first = setup(world);
    await runTasks(first.chain, world, ['echo one', 'echo two', 'echo plain', 'echo four'], (label) => (label === 'echo plain' ? {} : digested(label)));
    await first.chain.close();
    const second = setup(world);
    const [opening] = await runTasks(second.chain, world, ['echo one'], digested);
    assert.deepEqual(aheadOf(opening).map((h) => h.digest), ['digest of echo two']);
    await second.chain.close();

    const third = setup(world);
    const replies = await runTasks(third.chain, world, ['echo one', 'echo new'], digested);
    assert.deepEqual(outcomes(replies), ['hit', 'miss']);
    await third.chain.close();
    const fourth = setup(world);
    const [again] = await runTasks(fourth.chain, world, ['echo one'], digested);
    // After "echo one" came "echo new" last: its entry exists now, and nothing came after it.
    assert.deepEqual(aheadOf(again).map((h) => h.digest), ['digest of echo new']);
    await fourth.chain.close();
  });

  it('stops the chain, before any container starts, when a hit taken ahead is gone by the time its task comes', async () => {
    const { world, built, startedBefore, chain, opening } = await rebuildAfterThree();
    const [two, three] = aheadOf(opening);
    // A prune, meanwhile, of the local entry and of the registry cache's copy (which would serve as well).
    world.tags.delete(`strata-cache:${built[1].fingerprint}`);
    world.registry.delete(built[1].fingerprint);
    const changed = (err: unknown) => err instanceof StrataError && err.code === 'cache_changed' && /"echo two" was removed or replaced during the build/.test(err.message);
    await assert.rejects(chain.task(task('echo two', { expect: two.fingerprint })), changed);
    await assert.rejects(chain.task(task('echo three', { expect: three.fingerprint })), changed, 'every later task of the host');
    await assert.rejects(chain.task(task('echo four', digested('echo four'))), changed);
    const tagged = world.tags.get('shop/web:latest');
    await assert.rejects(chain.finish(), changed, 'nor is the image tagged');
    assert.equal(world.tags.get('shop/web:latest'), tagged);
    await chain.close();
    assert.equal(world.started.length, startedBefore, 'no container was started');
  });

  it('starts no container for a next task after rebuilding the task that ended the last build, and one that comes after all still runs', async () => {
    const world = new MemoryWorld();
    const first = setup(world);
    await runTasks(first.chain, world, ['echo one', 'echo two'], digested);
    await first.chain.finish();
    await first.chain.close();

    // The last task edited: it misses, and once committed no container is started for a task after it.
    const edit = setup(world);
    const startedBefore = world.started.length;
    const edited = await runTasks(edit.chain, world, ['echo one', 'echo 2'], digested);
    assert.deepEqual(outcomes(edited), ['hit', 'miss']);
    assert.equal(world.started.length - startedBefore, 1, 'only the container "echo 2" ran in');
    // A task added after it gets a container from the new tip all the same.
    const added = await edit.chain.task(task('echo three', digested('echo three')));
    assert.equal(world.started.length - startedBefore, 2);
    assert.equal(world.startedFrom(containerOf(added)), world.tags.get(`strata-cache:${edited[1].fingerprint}`));
    world.changeFiles(containerOf(added));
    await edit.chain.taskDone(done());
    await edit.chain.finish();
    await edit.chain.close();
    assert.equal(world.containers.size, 0);

    // Not the last task last time ("echo 2" had "echo three" after it): the next container is started at once.
    const middle = setup(world);
    const before = world.started.length;
    await runTasks(middle.chain, world, ['echo one', 'echo II'], digested);
    assert.equal(world.started.length - before, 2, 'the container "echo II" ran in, and one for the next task');
    await middle.chain.close();
  });

  it('refuses a task taken ahead that is not the hit it was taken as', async () => {
    const world = new MemoryWorld();
    const first = setup(world);
    const built = await runTasks(first.chain, world, ['echo one', 'echo two'], digested);
    await first.chain.close();
    const { chain } = setup(world);
    await chain.task(task('echo one', digested('echo one')));
    // Not what was taken: the plugin's own task differs from what the digest promised.
    await assert.rejects(chain.task(task('echo 2', { expect: built[1].fingerprint })), (err: unknown) => err instanceof StrataError && err.code === 'cache_changed');
    await chain.close();
  });
});
