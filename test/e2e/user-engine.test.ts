// The per-user engine builds share: the first build starts it, the next one
// connects to it without starting Node, a build with other engine settings
// gets its own, `strata stop` ends them, an idle one ends by itself, and a
// build on it leaves no container behind, as one on a private engine.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  BASE_IMAGE,
  buildContainers,
  cacheEntries,
  command,
  containersCreatedDuring,
  copyProject,
  eventually,
  fileInImage,
  inspect,
  playbook,
  removeImages,
  serve,
  strata,
  strataLines,
  unique,
  writeInventory,
} from './harness';

// A runtime directory of this file's own, so its engines are told apart from any other.
const runtime = mkdtempSync(join(tmpdir(), 'strata-runtime-'));
const engineDir = join(runtime, 'strata');
const env = { XDG_RUNTIME_DIR: runtime };
const made: { tags: string[]; hosts: string[] } = { tags: [], hosts: [] };

after(async () => {
  strata(['stop'], env);
  await removeImages(made.tags, made.hosts);
  rmSync(runtime, { recursive: true, force: true });
});

function project(): { dir: string; host: string } {
  const dir = copyProject('test/fixtures/small');
  const host = unique('shared-engine');
  writeInventory(dir, { images: { [host]: { strata_from: BASE_IMAGE, strata_image: `strata-e2e/${host}:latest` } } });
  made.hosts.push(host);
  made.tags.push(`strata-e2e/${host}:latest`);
  return { dir, host };
}

/** The process IDs of the engines running from this file's runtime directory. */
function enginePids(): number[] {
  if (!existsSync(engineDir)) return [];
  return readdirSync(engineDir)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => Number(readFileSync(join(engineDir, f), 'utf8').split('\n')[0]))
    .filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
}

describe('the engine builds share', () => {
  it('is started by the first build and used by the next, which leaves no container either', async () => {
    const { dir, host } = project();
    const first = playbook(dir, [], env);
    assert.equal(first.code, 0, first.out);
    const pids = enginePids();
    assert.equal(pids.length, 1, 'one engine, left running');
    assert.deepEqual(await buildContainers(), [], 'the build removed its containers before it ended');
    const second = playbook(dir, ['-e', '{"last_command": "echo changed"}'], env);
    assert.equal(second.code, 0, second.out);
    assert.deepEqual(strataLines(second.out, host).map((l) => l.split(',')[0]), ['cached', 'built']);
    assert.deepEqual(enginePids(), pids, 'the same engine served it');
    assert.deepEqual(await buildContainers(), []);
  });

  it('is another one for a build with other engine settings', () => {
    const { dir } = project();
    const other = playbook(dir, [], { ...env, XDG_DATA_HOME: mkdtempSync(join(tmpdir(), 'strata-data-')) });
    assert.equal(other.code, 0, other.out);
    assert.equal(enginePids().length, 2);
  });

  it('is stopped by `strata stop`', async () => {
    const stop = strata(['stop'], env);
    assert.equal(stop.code, 0, stop.out);
    assert.match(stop.out, /stopped 2 engine/);
    assert.deepEqual(enginePids(), []);
    assert.match(strata(['stop'], env).out, /no strata engine was running/);
  });

  it('ends by itself after its idle time, and the next build starts another', async () => {
    const { dir } = project();
    const run = playbook(dir, [], { ...env, STRATA_ENGINE_IDLE: '2' });
    assert.equal(run.code, 0, run.out);
    assert.equal(enginePids().length, 1);
    assert.ok(await eventually(async () => enginePids().length === 0, 15), 'the idle engine exited');
    const again = playbook(dir, [], { ...env, STRATA_ENGINE_IDLE: '2' });
    assert.equal(again.code, 0, again.out);
  });

  it('is not used with STRATA_PRIVATE_ENGINE=1', () => {
    strata(['stop'], env);
    const { dir } = project();
    const run = playbook(dir, [], { ...env, STRATA_PRIVATE_ENGINE: '1' });
    assert.equal(run.code, 0, run.out);
    assert.deepEqual(enginePids(), []);
  });
});

describe('an engine that serves build after build', () => {
  it("keeps each host's cache index between builds, and forgets what is removed between them", async () => {
    const engine = await serve();
    try {
      const served = { ...env, STRATA_ENGINE: engine.address, STRATA_TOKEN: engine.token };
      const { dir, host } = project();
      const kinds = (args: string[] = []) => {
        const run = playbook(dir, args, served);
        assert.equal(run.code, 0, run.out);
        return strataLines(run.out, host).map((l) => l.split(',')[0]);
      };
      const keptFor = () => engine.log().match(new RegExp(`host opened .*host=${host} .*index_kept=true`, 'g'))?.length ?? 0;
      assert.deepEqual(kinds(), ['built', 'built']);
      assert.deepEqual(kinds(), ['cached', 'cached']);
      assert.deepEqual(kinds(), ['cached', 'cached']);
      // playbook() blocks this process: the engine's log is read once it yields.
      assert.ok(await eventually(async () => keptFor() === 2, 5), `both rebuilds looked up in the index the first build read:\n${engine.log()}`);
      // The index holds the entries the first build committed: no rebuild asks Docker for one.
      const hits = [...engine.log().matchAll(new RegExp(`hit host=${host} .*? looked_up=(\\w+).*`, 'g'))];
      assert.deepEqual(hits.map((m) => m[1]), ['memory', 'memory', 'memory', 'memory'], engine.log());
      // Each rebuild's first hit told the plugin of the next, which it replayed without waiting.
      const replayedAhead = hits.map((m) => /replayed_ahead=true/.test(m[0]));
      assert.deepEqual(replayedAhead, [false, true, false, true], engine.log());

      // The last task's entry untagged behind the engine's back: its image
      // lives on (the image's own tag), so only the events can tell.
      const [last] = (await cacheEntries(host)).filter((e) => e.Labels['strata.kind'] === 'layer').sort((a, b) => Number(b.Labels['strata.position']) - Number(a.Labels['strata.position']));
      const lastTag = last.RepoTags!.find((t) => t.startsWith('strata-cache:'))!;
      command('docker', ['rmi', lastTag]);
      assert.deepEqual(kinds(), ['cached', 'built'], 'the removed entry is not served from memory');
      assert.ok(await eventually(async () => keptFor() === 3, 5), engine.log());

      assert.equal(strata(['prune', '--all', '--host', host]).code, 0);
      assert.deepEqual(kinds(), ['built', 'built']);
      assert.deepEqual(await buildContainers(), []);
    } finally {
      await engine.stop();
    }
  });

  it('starts no container for a next task when a rebuild changes the task that ended the last build, and still runs one added after it', async () => {
    const engine = await serve();
    try {
      const served = { ...env, STRATA_ENGINE: engine.address, STRATA_TOKEN: engine.token };
      const { dir, host } = project();
      const tag = `strata-e2e/${host}:latest`;
      writeFileSync(join(dir, 'site.yml'), [
        '- hosts: all',
        '  gather_facts: false',
        '  tasks:',
        '    - copy: { content: "one\\n", dest: /one }',
        '    - copy: { content: "{{ last }}\\n", dest: /last }',
        '    - copy: { content: "added\\n", dest: /added }',
        '      when: add is defined',
        '',
      ].join('\n'));
      const build = async (args: string[]) => {
        let run!: ReturnType<typeof playbook>;
        const started = await containersCreatedDuring(() => (run = playbook(dir, args, served)), 'start');
        assert.equal(run.code, 0, run.out);
        return { kinds: strataLines(run.out, host).map((l) => l.split(',')[0]), started };
      };
      // Each commit is followed by a container for the next task, the last one's too: nothing is known yet.
      // That last one's start races the build's end, which cuts it short: 2 or 3 starts.
      const first = await build(['-e', 'last=first']);
      assert.deepEqual(first.kinds, ['built', 'built']);
      assert.ok(first.started === 2 || first.started === 3, `${first.started} containers started`);
      // The last task changed: it runs in one container, and none is started for a task after it.
      assert.deepEqual(await build(['-e', 'last=second']), { kinds: ['cached', 'built'], started: 1 });
      assert.equal(fileInImage(tag, '/last'), 'second\n');
      // Changed again, with a task added after it: that one gets its container all the same.
      assert.deepEqual((await build(['-e', 'last=third', '-e', 'add=1'])).kinds, ['cached', 'built', 'built']);
      assert.equal(fileInImage(tag, '/last'), 'third\n');
      assert.equal(fileInImage(tag, '/added'), 'added\n');
      // Nothing changed: the same image, also under a tag added since.
      const image = (await inspect(tag)).Id;
      const alias = `strata-e2e/${host}:alias`;
      made.tags.push(alias);
      const again = await build(['-e', 'last=third', '-e', 'add=1', '-e', JSON.stringify({ strata_image: [tag, alias] })]);
      assert.deepEqual(again, { kinds: ['cached', 'cached', 'cached'], started: 0 });
      assert.deepEqual([(await inspect(tag)).Id, (await inspect(alias)).Id], [image, image]);
      assert.deepEqual(await buildContainers(), []);
    } finally {
      await engine.stop();
    }
  });

  it('fails a build, tagging nothing, when a hit it replayed ahead is removed during it; the next build builds that task again', async () => {
    const engine = await serve();
    try {
      const served = { ...env, STRATA_ENGINE: engine.address, STRATA_TOKEN: engine.token };
      const { dir, host } = project();
      // The third task's entry is removed, while the build runs, by a task on the controller
      // (which is no link of the chain), after the first hit told of the third as a hit ahead.
      writeFileSync(join(dir, 'site.yml'), [
        '- hosts: all',
        '  gather_facts: false',
        '  tasks:',
        '    - copy: { content: "one\\n", dest: /one }',
        '    - copy: { content: "two\\n", dest: /two }',
        '    - command: docker rmi {{ remove_entry }}',
        '      delegate_to: localhost',
        '      when: remove_entry is defined',
        '    - pause: { seconds: 1 }  # for the engine to hear of it',
        '      when: remove_entry is defined',
        '    - copy: { content: "three\\n", dest: /three }',
        '',
      ].join('\n'));
      const built = playbook(dir, [], served);
      assert.deepEqual(strataLines(built.out, host).map((l) => l.split(',')[0]), ['built', 'built', 'built'], built.out);
      const image = (await inspect(`strata-e2e/${host}:latest`)).Id;
      const third = (await cacheEntries(host)).find((e) => e.Labels['strata.position'] === '2')!;
      const thirdTag = third.RepoTags!.find((t) => t.startsWith('strata-cache:'))!;

      const broken = playbook(dir, ['-e', `remove_entry=${thirdTag}`], served);
      assert.notEqual(broken.code, 0, broken.out);
      assert.match(broken.out, /the cache entry of "copy [^"]*three[^"]*" was removed or replaced during the build .*no image is tagged/, broken.out);
      assert.ok(await eventually(async () => /hit .*replayed_ahead=true/.test(engine.log()), 5), engine.log());
      assert.equal((await inspect(`strata-e2e/${host}:latest`)).Id, image, 'the tag did not move');
      assert.deepEqual(await buildContainers(), []);

      const again = playbook(dir, [], served);
      assert.equal(again.code, 0, again.out);
      assert.deepEqual(strataLines(again.out, host).map((l) => l.split(',')[0]), ['cached', 'cached', 'built'], again.out);
    } finally {
      await engine.stop();
    }
  });
});
