// What changes a fingerprint and what does not, the ways to force a rebuild,
// and the cases a three-way comparison cannot show: secrets, image config,
// --limit, what a built task's connection leaves to the docker CLI. (Long chains have a file of their own: long-chains.test.ts.)

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  BASE_IMAGE,
  cacheEntries,
  command,
  containersCreatedDuring,
  copyProject,
  docker,
  inspect,
  layers,
  playbook,
  recap,
  removeImages,
  Run,
  runInImage,
  serve,
  strataLines,
  unique,
  writeInventory,
} from './harness';

const made: { tags: string[]; hosts: string[] } = { tags: [], hosts: [] };

after(() => removeImages(made.tags, made.hosts));

/** A copy of a project whose hosts are fresh image hosts. */
function project(relative: string, hosts: Record<string, Record<string, unknown>>) {
  const dir = copyProject(relative);
  const named = Object.fromEntries(Object.entries(hosts).map(([h, vars]) => [unique(h), vars]));
  const tagOf = (host: string) => `strata-e2e/${host}:latest`;
  writeInventory(dir, {
    images: Object.fromEntries(Object.entries(named).map(([h, vars]) => [h, { strata_from: BASE_IMAGE, strata_image: tagOf(h), ...vars }])),
  });
  made.hosts.push(...Object.keys(named));
  made.tags.push(...Object.keys(named).map(tagOf));
  return { dir, hosts: Object.keys(named), tagOf };
}

function ok(run: Run): Run {
  assert.equal(run.code, 0, run.out);
  return run;
}

describe('what a fingerprint sees', () => {
  it('a value from include_vars that a later task uses rebuilds that task and no earlier one', () => {
    const { dir, hosts } = project('test/conformance/vars_and_facts', { facts: {} });
    ok(playbook(dir));
    writeFileSync(join(dir, 'vars/app.yml'), 'app_name: demo\napp_port: 82\n');
    const lines = strataLines(ok(playbook(dir)).out, hosts[0]);
    // facts, read os-release, write release: cached; the template uses app_port: built.
    assert.deepEqual(lines.slice(0, 3), ['cached', 'cached', 'cached']);
    assert.match(lines[3], /^built/);
  });

  it('a set_fact value that later tasks use rebuilds them', () => {
    const { dir, hosts } = project('test/conformance/vars_and_facts', { facts: {} });
    ok(playbook(dir));
    const lines = strataLines(ok(playbook(dir, ['-e', 'app_name=renamed'])).out, hosts[0]);
    assert.deepEqual(lines.slice(0, 2), ['cached', 'cached']);
    assert.match(lines[2], /^built/, 'the task writing the fact is rebuilt');
  });
});

describe('forcing a rebuild', () => {
  it('_cacheable: false runs that task and every later one again, the earlier ones come from the cache', async () => {
    const { dir, hosts } = project('test/fixtures/small', { never: {} });
    const site = join(dir, 'site.yml');
    writeFileSync(site, readFileSync(site, 'utf8').replace('    - name: Run the last command\n', '    - name: Run the last command\n      vars: {_cacheable: false}\n'));
    ok(playbook(dir));
    let run!: Run;
    const created = await containersCreatedDuring(() => (run = ok(playbook(dir))));
    assert.deepEqual(strataLines(run.out, hosts[0]).map((l) => l.split(',')[0]), ['cached', 'built']);
    assert.ok(created > 0, 'the never-cached task needs a container');
  });

  it('STRATA_NO_CACHE=1 runs every task, and what it builds is cached', () => {
    const { dir, hosts } = project('test/fixtures/small', { nocache: {} });
    ok(playbook(dir));
    const forced = ok(playbook(dir, [], { STRATA_NO_CACHE: '1' }));
    assert.ok(strataLines(forced.out, hosts[0]).every((l) => l.startsWith('built')));
    assert.ok(strataLines(ok(playbook(dir)).out, hosts[0]).every((l) => l === 'cached'));
  });
});

describe('image config', () => {
  it('changing strata_config re-runs no task and starts no container, and the image always has the current config', async () => {
    const { dir, hosts, tagOf } = project('test/fixtures/small', { configured: { strata_config: { env: { STAGE: 'one' } } } });
    ok(playbook(dir));
    assert.ok((await inspect(tagOf(hosts[0]))).Config.Env?.includes('STAGE=one'));
    const layersBefore = await layers(tagOf(hosts[0]));
    writeInventory(dir, {
      images: {
        [hosts[0]]: { strata_from: BASE_IMAGE, strata_image: tagOf(hosts[0]), strata_config: { env: { STAGE: 'two' }, cmd: ['cat', '/one'] } },
      },
    });
    let run!: Run;
    // Docker's builder creates, but never starts, a container per config instruction.
    const started = await containersCreatedDuring(() => (run = ok(playbook(dir))), 'start');
    assert.equal(started, 0);
    assert.ok(strataLines(run.out, hosts[0]).every((l) => l === 'cached'));
    const image = await inspect(tagOf(hosts[0]));
    assert.ok(image.Config.Env?.includes('STAGE=two'));
    assert.ok(!image.Config.Env?.includes('STAGE=one'));
    assert.deepEqual(await layers(tagOf(hosts[0])), layersBefore);
    assert.equal(runInImage(tagOf(hosts[0]), ['cat', '/one']), 'one\n');
  });
});

describe('the final image\'s command', () => {
  it('falls back to the base image\'s, including no command at all', async () => {
    const built = spawnSync('docker', ['build', '-q', '-t', 'strata-e2e/no-cmd:latest', '-'], {
      input: `FROM ${BASE_IMAGE}\nCMD []\n`,
      encoding: 'utf8',
    });
    assert.equal(built.status, 0, built.stderr);
    try {
      const { dir, hosts, tagOf } = project('test/fixtures/small', { withcmd: {}, nocmd: { strata_from: 'strata-e2e/no-cmd:latest' } });
      const run = ok(playbook(dir));
      // Each host's last commit starts a container for a next task that never comes; its end is no news.
      assert.doesNotMatch(run.out, /WARNING\]: strata/);
      const withCmd = await inspect(tagOf(hosts[0]));
      assert.deepEqual(withCmd.Config.Cmd, ['bash']);
      const noCmd = await inspect(tagOf(hosts[1]));
      assert.ok(!noCmd.Config.Cmd?.length && !noCmd.Config.Entrypoint?.length, JSON.stringify(noCmd.Config));
      assert.equal(runInImage(tagOf(hosts[1]), ['cat', '/one']), 'one\n');
    } finally {
      spawnSync('docker', ['rmi', '-f', 'strata-e2e/no-cmd:latest']);
    }
  });
});

describe('no_log', () => {
  it('keeps a no_log task\'s values out of labels, history, output and the engine log', async () => {
    const token = `hush-${unique('x')}`;
    const { dir, hosts, tagOf } = project('test/conformance/keywords', { secret: { token } });
    const engine = await serve(['--log-level', 'debug']);
    try {
      const env = { STRATA_ENGINE: engine.address, STRATA_TOKEN: engine.token };
      const cold = ok(playbook(dir, [], env));
      const warm = ok(playbook(dir, [], env));
      for (const out of [cold.out, warm.out, engine.log()]) assert.ok(!out.includes(token), 'the secret is not printed or logged');
      assert.match(warm.out, /"secret_len": "?\d+"?/, 'the registered value still reaches later tasks');
    } finally {
      await engine.stop();
    }
    for (const entry of await cacheEntries(hosts[0])) {
      const info = await docker.getImage(entry.Id).inspect();
      assert.ok(!JSON.stringify(info.Config.Labels).includes(token), 'no label holds the secret');
      assert.ok(!JSON.stringify(await docker.getImage(entry.Id).history()).includes(token), 'no history entry holds it');
    }
    assert.equal(runInImage(tagOf(hosts[0]), ['cat', '/secret-file']), `secret-${token}\n`, 'the task itself did run');
  });
});

describe('--limit', () => {
  it('builds and tags only the hosts it names', async () => {
    const { dir, hosts, tagOf } = project('test/fixtures/small', { picked: {}, left: {} });
    ok(playbook(dir, ['--limit', hosts[0]]));
    assert.ok((await inspect(tagOf(hosts[0]))).Id);
    await assert.rejects(inspect(tagOf(hosts[1])));
    assert.equal((await cacheEntries(hosts[1])).length, 0);
  });
});

describe('--tags', () => {
  it('builds and caches the selected tasks but does not tag an image that lacks the others, and exits 1', async () => {
    const { dir, hosts, tagOf } = project('test/fixtures/small', { tagged: {} });
    const site = join(dir, 'site.yml');
    writeFileSync(site, readFileSync(site, 'utf8').replace('    - name: Write a file\n', '    - name: Write a file\n      tags: [first]\n'));
    const run = playbook(dir, ['--tags', 'first']);
    assert.equal(run.code, 1, 'a run that tags no image does not exit 0');
    assert.equal(recap(run.out)[hosts[0]].failed, 0, run.out);
    assert.match(run.out, /only some tasks ran .* so the image was not tagged \(the run exits 1\)/);
    await assert.rejects(inspect(tagOf(hosts[0])));
    assert.equal((await cacheEntries(hosts[0])).length, 1);
  });
});

describe('edges of what may be cached', () => {
  it('re-evaluates changed_when on a hit, keeps ansible_host for templates, delegates to the host itself in the container, runs connection: local on the controller, takes fetch from the cache and writes its file back', async () => {
    const { dir, hosts, tagOf } = project('test/fixtures/edges', { edges: { ansible_host: 'web.example.com' } });
    const cold = ok(playbook(dir, ['-e', 'threshold=5']));
    assert.equal(runInImage(tagOf(hosts[0]), ['cat', '/ansible-host']), 'web.example.com\n');
    assert.equal(readFileSync(join(dir, 'fetched/ansible-host'), 'utf8'), 'web.example.com\n');
    const lines = (run: Run) => strataLines(run.out, hosts[0]).map((l) => l.split(',')[0]);
    assert.deepEqual(lines(cold), ['built', 'built', 'built', 'built'], 'connection: local makes no strata line');
    assert.equal(runInImage(tagOf(hosts[0]), ['cat', '/delegated']), 'delegated', 'delegating to itself stays in the container');
    rmSync(join(dir, 'fetched'), { recursive: true });
    const warm = ok(playbook(dir, ['-e', 'threshold=1']));
    assert.deepEqual(lines(warm), ['cached', 'cached', 'cached', 'cached'], 'fetch came from the cache');
    assert.match(warm.out, /TASK \[Count\] \*+\nchanged:/, 'changed_when was evaluated with the new threshold');
    assert.equal(readFileSync(join(dir, 'fetched/ansible-host'), 'utf8'), 'web.example.com\n');
  });
});

describe('a host without strata_image', () => {
  it('gets the same final image again from a rebuild that changed nothing', async () => {
    const { dir, hosts } = project('test/fixtures/small', { untagged: { strata_image: null } });
    const imageOf = (run: Run) => new RegExp(`strata: ${hosts[0]}: image (\\w{12}) tagged \\(no strata_image\\)`).exec(run.out)?.[1];
    const first = imageOf(ok(playbook(dir)));
    assert.ok(first, 'the build named its image');
    try {
      assert.equal(imageOf(ok(playbook(dir))), first);
    } finally {
      await docker.getImage(first).remove().catch(() => undefined);
    }
  });
});

describe('what goes through the docker CLI', () => {
  it('a become that answers a password prompt, and a file over 64 MiB, as stock Ansible does them', async () => {
    const { dir, hosts, tagOf } = project('test/fixtures/small', { cli: { ansible_become_password: 'app-pw' } });
    const big = Buffer.alloc(65 * 1024 * 1024, 'strata ');
    writeFileSync(join(dir, 'big.bin'), big);
    writeFileSync(
      join(dir, 'site.yml'),
      `- hosts: all
  gather_facts: false
  tasks:
    - apt: { name: sudo, update_cache: true }
    - shell: useradd -m app && echo 'app:app-pw' | chpasswd && echo 'app ALL=(ALL) ALL' > /etc/sudoers.d/app
    - name: As app, become root with sudo's password
      shell: whoami > /became
      remote_user: app
      become: true
      become_method: sudo
    - copy: { src: big.bin, dest: /big.bin }
`,
    );
    ok(playbook(dir));
    assert.equal(runInImage(tagOf(hosts[0]), ['cat', '/became']), 'root\n');
    assert.equal(runInImage(tagOf(hosts[0]), ['sh', '-c', 'wc -c < /big.bin']).trim(), String(big.length));
  });
});

describe("where a task's commands run", () => {
  const userTask = `    - name: As app
      shell: "{ id -un; id -gn; id -Gn; echo $HOME; } > /tmp/as-app"
      remote_user: app
`;

  it("in the build container's own agent, not a docker exec each, as docker exec -u would run them", async () => {
    const { dir, hosts, tagOf } = project('test/fixtures/small', { agent: {} });
    writeFileSync(
      join(dir, 'site.yml'),
      `- hosts: all
  gather_facts: false
  tasks:
    - shell: groupadd team && useradd -m -G team app
    - copy: { content: "in\\n", dest: /in }
${userTask}`,
    );
    const execs = await containersCreatedDuring(() => ok(playbook(dir)), 'exec_create', hosts);
    assert.equal(execs, 0, 'no command went through docker exec');
    const asDockerSays = command('docker', ['run', '--rm', '-u', 'app', tagOf(hosts[0]), 'sh', '-c', 'id -un; id -gn; id -Gn; echo $HOME']);
    assert.equal(runInImage(tagOf(hosts[0]), ['cat', '/tmp/as-app']), asDockerSays);
    assert.match(asDockerSays, /^app\napp\napp team\n\/home\/app\n$/);
    const history = (await docker.getImage(tagOf(hosts[0])).history()) as { CreatedBy: string }[];
    assert.ok(history.every((step) => !step.CreatedBy.includes('def reap_orphans')), "the agent's code is in no layer's history");
  });

  it('through docker exec when the base runs as another user than root, who the tasks run as', async () => {
    const base = `strata-e2e/nobody-base-${unique('b')}`;
    const built = spawnSync('docker', ['build', '-q', '-t', base, '-'], { input: `FROM ${BASE_IMAGE}\nUSER nobody\n`, encoding: 'utf8' });
    assert.equal(built.status, 0, built.stderr);
    made.tags.push(base);
    const { dir, hosts, tagOf } = project('test/fixtures/small', { nobody: { strata_from: base } });
    writeFileSync(
      join(dir, 'site.yml'),
      `- hosts: all
  gather_facts: false
  tasks:
    - shell: id -un > /tmp/who
`,
    );
    const execs = await containersCreatedDuring(() => ok(playbook(dir)), 'exec_create', hosts);
    assert.ok(execs > 0, 'the commands went through docker exec');
    assert.equal(runInImage(tagOf(hosts[0]), ['cat', '/tmp/who']), 'nobody\n');
    assert.equal((await inspect(tagOf(hosts[0]))).Config.User, 'nobody');
  });
});

describe('a failure that only an always: block follows', () => {
  it('is not committed, so the next build runs the task again', async () => {
    const { dir, hosts } = project('test/fixtures/small', { always: {} });
    writeFileSync(
      join(dir, 'site.yml'),
      `- hosts: all
  gather_facts: false
  tasks:
    - block:
        - name: Fail
          command: "{{ outcome | default('false') }}"
      always:
        - name: Clean up
          copy: {content: done, dest: /done}
`,
    );
    const failed = playbook(dir);
    assert.notEqual(failed.code, 0);
    assert.match(strataLines(failed.out, hosts[0])[0], /^failed: nothing committed/);
    const again = playbook(dir);
    assert.match(strataLines(again.out, hosts[0])[0], /^failed/, 'the failure was not cached');
    assert.ok(ok(playbook(dir, ['-e', 'outcome=true'])));
  });
});

describe('strata_squash', () => {
  it('makes the final image one layer over the base, keeps the per-task chain, and reuses it when nothing changed', async () => {
    const { dir, hosts, tagOf } = project('test/fixtures/small', {
      squashed: { strata_squash: true, strata_config: { cmd: ['cat', '/two'] } },
    });
    writeFileSync(
      join(dir, 'site.yml'),
      readFileSync(join(dir, 'site.yml'), 'utf8') +
        '    - copy: {content: "two\\n", dest: /two}\n    - file: {path: /one, state: absent}\n    - file: {path: /etc/motd, state: absent}\n',
    );
    ok(playbook(dir));
    const baseLayers = await layers(BASE_IMAGE);
    const image = await inspect(tagOf(hosts[0]));
    assert.deepEqual(image.RootFS.Layers, [...baseLayers, image.RootFS.Layers![baseLayers.length]], 'the base layers and one more');
    assert.equal(runInImage(tagOf(hosts[0]), ['cat', '/two']), 'two\n');
    assert.equal(runInImage(tagOf(hosts[0]), ['sh', '-c', 'ls /one /etc/motd 2>/dev/null | wc -l']), '0\n', 'deletions, of task files and base files, hold');
    assert.deepEqual(image.Config.Cmd, ['cat', '/two']);
    assert.equal((await cacheEntries(hosts[0])).length, 5, 'every task keeps its own cache entry');
    let warm!: Run;
    const created = await containersCreatedDuring(() => (warm = ok(playbook(dir))));
    assert.equal(created, 0);
    assert.ok(strataLines(warm.out, hosts[0]).every((l) => l === 'cached'));
    assert.equal((await inspect(tagOf(hosts[0]))).Id, image.Id, 'nothing changed, so the same squashed image');
  });
});

describe('processes a task starts', () => {
  it('end with the task, as a RUN step ends in docker build: a later task reaches none of them', () => {
    const daemon = (port: number) => `nohup python3 -m http.server ${port} >/dev/null 2>&1 & sleep 1`;
    const reach = (port: number, file: string) =>
      `python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${port}')" 2>/dev/null && echo reachable > ${file} || echo gone > ${file}`;
    const { dir, hosts, tagOf } = project('test/fixtures/small', { procs: {} });
    writeFileSync(
      join(dir, 'site.yml'),
      `- hosts: all
  gather_facts: false
  tasks:
    - name: Start a server in the host's first build container, and write a file
      shell: |
        ${daemon(8001)}; mkdir /probe
    - name: Ask it from the next one
      shell: |
        ${reach(8001, '/probe/after-layer')}
    - name: Start a server and write nothing (the next task gets the same container)
      shell: |
        ${daemon(8002)}
    - name: Ask that one
      shell: |
        ${reach(8002, '/probe/same-container')}
`,
    );
    ok(playbook(dir));
    const seen = runInImage(tagOf(hosts[0]), ['sh', '-c', 'cat /probe/after-layer /probe/same-container']);
    assert.equal(seen, 'gone\ngone\n');
  });

  it('leave no zombie behind once they end: the build container reaps them, as a shell would', () => {
    const { dir, hosts, tagOf } = project('test/fixtures/small', { reaped: {} });
    writeFileSync(
      join(dir, 'site.yml'),
      `- hosts: all
  gather_facts: false
  tasks:
    - name: Leave a process behind, whose parent ends at once
      shell: (sleep 0.3 >/dev/null 2>&1 &); true
    - name: Count the processes that ended and were not reaped
      shell: sleep 1; for s in /proc/[0-9]*/stat; do cut -d' ' -f3 $s; done | grep -c Z > /zombies || true
`,
    );
    ok(playbook(dir));
    assert.equal(runInImage(tagOf(hosts[0]), ['cat', '/zombies']), '0\n');
  });
});
