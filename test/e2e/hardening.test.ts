// What a careless user or an attacker tries: secrets Ansible hides without
// no_log, a damaged key file, a build killed mid-commit, a layer that takes
// long to commit.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { inflateRawSync } from 'node:zlib';
import { LABEL } from '../../src/cache/entries';
import { decodeValue } from '../../src/protocol/codec';
import { BASE_IMAGE, cacheEntries, copyProject, docker, inspect, playbook, removeImages, Run, serve, strata, strataLines, unique, writeInventory } from './harness';

const made: { tags: string[]; hosts: string[] } = { tags: [], hosts: [] };
after(() => removeImages(made.tags, made.hosts));

function project(tasks: string, vars: Record<string, unknown> = {}): { dir: string; host: string; tag: string } {
  const dir = copyProject('test/fixtures/small');
  const host = unique('harden');
  const tag = `strata-e2e/${host}:latest`;
  writeInventory(dir, { images: { [host]: { strata_from: BASE_IMAGE, strata_image: tag, ...vars } } });
  writeFileSync(join(dir, 'site.yml'), `- hosts: all\n  gather_facts: false\n  tasks:\n${tasks.replace(/^/gm, '    ')}\n`);
  made.hosts.push(host);
  made.tags.push(tag);
  return { dir, host, tag };
}

/** A stored value's content when it is only packed (z1:), not sealed: what anyone with `docker inspect` reads. */
function unpacked(text: string | undefined): string {
  return text?.startsWith('z1:') ? JSON.stringify(decodeValue(inflateRawSync(Buffer.from(text.slice(3), 'base64')))) : '';
}

function ok(run: Run): Run {
  assert.equal(run.code, 0, run.out);
  return run;
}

describe('values Ansible hides without no_log', () => {
  it('stay out of labels, history, `strata ls`, `strata explain` and the engine log, and still count', async () => {
    const secrets = {
      app_db_password: 'db-pw-7f3a91',
      user_hash: '$6$salt$hash-5c2e',
      api_token: 'api-tok-0b8d44',
      alias_pw: 'alias-pw-93c1d7',
      nested_pw: 'nested-pw-4e0a62',
    };
    const { dir, host, tag } = project(
      `- copy: { content: "{{ app_db_password }}", dest: /etc/app-db.conf }
- user: { name: app, password: "{{ user_hash }}" }
- command: printenv API_TOKEN
  environment: { API_TOKEN: "{{ api_token }}" }
  register: printed
- get_url: { url: "file:///etc/hostname", dest: /fetched, username: u, password: "{{ alias_pw }}" }
- nested_secret: { opts: { name: x, pw: "{{ nested_pw }}" }, path: /nested }`,
      secrets,
    );
    // A module whose spec hides a suboption, as many collections' modules do.
    mkdirSync(join(dir, 'library'));
    writeFileSync(
      join(dir, 'library', 'nested_secret.py'),
      'from ansible.module_utils.basic import AnsibleModule\n' +
        'spec = dict(opts=dict(type="dict", options=dict(name=dict(), pw=dict(no_log=True))), path=dict())\n' +
        'AnsibleModule(argument_spec=spec).exit_json(changed=True)\n',
    );
    const engine = await serve(['--log-level', 'info']);
    try {
      const env = { STRATA_ENGINE: engine.address, STRATA_TOKEN: engine.token };
      ok(playbook(dir, [], env));
      const seen: string[] = [engine.log()];
      seen.push(spawnSync('docker', ['history', '--no-trunc', tag], { encoding: 'utf8' }).stdout);
      for (const entry of await cacheEntries(host)) {
        const labels = (await inspect(entry.Id)).Config.Labels;
        seen.push(JSON.stringify(labels), unpacked(labels[LABEL.inputs]), unpacked(labels[LABEL.result]));
        seen.push(strata(['explain', entry.Labels[LABEL.fingerprint], '--json']).out);
      }
      seen.push(JSON.stringify((await inspect(tag)).Config.Labels));
      seen.push(strata(['ls', '--json']).out, strata(['ls']).out);
      for (const [name, value] of Object.entries(secrets)) {
        for (const text of seen) assert.ok(!text.includes(value), `${name} shows up in:\n${text.slice(0, 2000)}`);
      }
      // Sealed, not forgotten: a new password rebuilds its task.
      writeInventory(dir, { images: { [host]: { strata_from: BASE_IMAGE, strata_image: tag, ...secrets, app_db_password: 'db-pw-changed' } } });
      const again = ok(playbook(dir, [], env));
      assert.match(strataLines(again.out, host)[0], /^built/);
    } finally {
      await engine.stop();
    }
  });
});

describe('the sealing key file', () => {
  it('when damaged is named with its fix before any task runs, instead of failing inside Docker', () => {
    const dataHome = mkdtempSync(join(tmpdir(), 'strata-key-'));
    try {
      mkdirSync(join(dataHome, 'strata'));
      writeFileSync(join(dataHome, 'strata', 'secret.key'), '');
      const { dir, host } = project('- copy: { content: plain, dest: /plain }\n- copy: { content: hidden, dest: /hidden }\n  no_log: true');
      const run = playbook(dir, [], { XDG_DATA_HOME: dataHome });
      assert.notEqual(run.code, 0);
      assert.match(run.out, new RegExp(`sealing key file ${join(dataHome, 'strata', 'secret.key')} does not hold a key.*remove it`, 's'));
      assert.doesNotMatch(run.out, /Invalid key length/);
      assert.doesNotMatch(run.out, new RegExp(`^(changed|ok): \\[${host}\\]`, 'm'), 'no task ran, not even the one that seals nothing');
    } finally {
      rmSync(dataHome, { recursive: true, force: true });
    }
  });
});

describe('an image a build left without a name', () => {
  /** What a commit interrupted before its tag leaves: strata's labels, no name; its own layer holds one MiB. */
  function leftover(host: string): string {
    const container = unique('strata-e2e-leftover');
    const ran = spawnSync('docker', ['run', '--name', container, BASE_IMAGE, 'dd', 'if=/dev/urandom', 'of=/mib', 'bs=1M', 'count=1'], { encoding: 'utf8' });
    assert.equal(ran.status, 0, ran.stderr);
    const committed = spawnSync('docker', ['commit', '--change', `LABEL ${LABEL.host}=${host}`, container], { encoding: 'utf8' });
    spawnSync('docker', ['rm', container]);
    assert.equal(committed.status, 0, committed.stderr);
    return committed.stdout.trim();
  }

  it('is removed by `strata prune`, which counts as freed only its own layer, not the base it shares', async () => {
    const host = unique('harden-leftover');
    made.hosts.push(host);
    const imageId = leftover(host);
    const pruned = strata(['prune', '--all', '--host', host]);
    assert.equal(pruned.code, 0, pruned.out);
    assert.match(pruned.out, /removed 1 unnamed image\(s\) strata left behind \(.*\), freeing 1\.0 MB/);
    await assert.rejects(docker.getImage(imageId).inspect(), 'the leftover image is gone');

    leftover(host);
    const json = JSON.parse(strata(['prune', '--all', '--host', host, '--json']).out);
    assert.equal(json.unnamedRemoved, 1);
    assert.ok(json.unnamedFreedBytes >= 1024 * 1024 && json.unnamedFreedBytes < 1024 * 1024 + 64 * 1024, `${json.unnamedFreedBytes} bytes: the MiB the leftover added, not the base under it`);
  });
});

describe('a layer that takes long to commit', () => {
  it('builds: a request waits as long as the engine works', async () => {
    // Gigabytes of new files take Docker well over ten seconds to commit.
    const { dir, tag } = project('- command: dd if=/dev/zero of=/big.bin bs=1M count=4000');
    try {
      const run = ok(playbook(dir));
      assert.match(run.out, /built, layer [\d.]+ GB/);
      const size = spawnSync('docker', ['run', '--rm', tag, 'stat', '-c', '%s', '/big.bin'], { encoding: 'utf8' }).stdout.trim();
      assert.equal(size, String(4000 * 1024 * 1024));
    } finally {
      await removeImages([tag], []);
    }
  });
});

describe('a cache entry whose layers do not match its labels', () => {
  it('is not a hit: the task is built again, once said as a warning, and the image is whole', async () => {
    const { dir, host, tag } = project('- copy: { content: one, dest: /one }\n- copy: { content: two, dest: /two }');
    ok(playbook(dir));
    // Plant an entry: the second task's labels on an image committed straight from the base.
    const second = (await cacheEntries(host)).find((e) => e.Labels[LABEL.position] === '1');
    assert.ok(second, 'the second task has an entry');
    const labels = (await inspect(second.Id)).Config.Labels ?? {};
    const container = spawnSync('docker', ['create', BASE_IMAGE, 'true'], { encoding: 'utf8' }).stdout.trim();
    const changes = Object.entries(labels).flatMap(([k, v]) => ['--change', `LABEL ${k}=${JSON.stringify(v)}`]);
    const planted = spawnSync('docker', ['commit', ...changes, container, `strata-cache:${labels[LABEL.fingerprint]}`], { encoding: 'utf8' });
    spawnSync('docker', ['rm', container]);
    assert.equal(planted.status, 0, planted.stderr);

    const run = ok(playbook(dir));
    assert.deepEqual(strataLines(run.out, host).map((l) => l.split(',')[0]), ['cached', 'built']);
    assert.match(run.out, /is not built on the layers of the entry before it/);
    const files = spawnSync('docker', ['run', '--rm', tag, 'cat', '/one', '/two'], { encoding: 'utf8' }).stdout;
    assert.equal(files, 'onetwo');
  });
});

describe('a large result and large arguments', () => {
  it('build, replay the same, and keep labels small', async () => {
    // 12 MB of stdout, twice over with stdout_lines: a result frame past 16 MiB.
    const { dir, host, tag } = project(`- shell: head -c 9000000 /dev/urandom | base64 -w0
  register: big
- copy: { content: "{{ 'x' * 1048576 }}", dest: /big-content }
- copy: { content: "{{ big.stdout | length }} {{ big.stdout | hash('sha1') }}", dest: /big-summary }`);
    const cold = ok(playbook(dir));
    const cached = ok(playbook(dir));
    assert.deepEqual(strataLines(cached.out, host), ['cached', 'cached', 'cached']);
    assert.doesNotMatch(cold.out + cached.out, /431|Request Header Fields Too Large/);
    for (const entry of await cacheEntries(host)) {
      const size = JSON.stringify((await inspect(entry.Id)).Config.Labels).length;
      assert.ok(size < 64 * 1024, `labels of ${entry.Labels[LABEL.task]} hold ${size} bytes`);
    }
    const summary = spawnSync('docker', ['run', '--rm', tag, 'cat', '/big-summary'], { encoding: 'utf8' }).stdout;
    assert.match(summary, /^12000000 [0-9a-f]{40}$/);
  });
});
