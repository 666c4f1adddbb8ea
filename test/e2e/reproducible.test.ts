// Reproducible and attested images (SOURCE_DATE_EPOCH, `strata provenance`),
// for real: a deterministic playbook (file, copy, template, lineinfile, user,
// a command writing fixed bytes, a deleted base file) built cold on the main
// daemon and, later, cold on a second dockerd of its own, must give the same
// image ID; the epoch is a fingerprint input; every final image carries a
// signed provenance that names its base, ansible-core, files and each task's
// layer, which `--verify` checks against the image.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Dockerode from 'dockerode';
import { BASE_IMAGE, buildContainers, command, docker, inspect, playbook, recap, removeImages, Run, runInImage, strata, strataLines, unique, writeInventory } from './harness';
import { SecondDaemon, startSecondDaemon } from './second-daemon';

const EPOCH = 1700000000;
const EPOCH_TIME = '2023-11-14T22:13:20Z';
const host = unique('repro');
const tag = `strata-e2e/${host}:latest`;
const TASKS = 9;

const PLAYBOOK = `
- hosts: all
  gather_facts: false
  tasks:
    - name: a folder
      file: {path: /opt/app, state: directory, mode: "0755"}
    - name: a file
      copy: {content: "hello\\n", dest: /opt/app/hello.txt}
    - name: a template
      template: {src: app.conf.j2, dest: /opt/app/app.conf}
    - name: a line
      lineinfile: {path: /etc/hosts.allow, line: "ALL: 10.0.0.0/8", create: true}
    - name: a user
      user: {name: appuser, uid: 1234}
    - name: fixed bytes
      command: sh -c 'printf fixed > /opt/app/fixed'
      args: {creates: /opt/app/fixed}
    - name: a base file removed
      file: {path: /etc/debian_version, state: absent}
    - name: a secret file
      template: {src: secret.conf.j2, dest: /opt/app/secret.conf, mode: "0600"}
      no_log: true
    - name: a secret in the environment
      shell: printf '%s' "$APP_TOKEN" | wc -c > /opt/app/token-length
      environment: {APP_TOKEN: "{{ app_token }}"}
`;

let dir: string;
let second: SecondDaemon;
let mainImage: Dockerode.ImageInspectInfo;

function build(env: Record<string, string> = {}): Run {
  const run = playbook(dir, [], env);
  assert.equal(run.code, 0, run.out);
  return run;
}

const withEpoch = (epoch: number = EPOCH) => ({ SOURCE_DATE_EPOCH: String(epoch) });
const template = () => join(dir, 'templates', 'app.conf.j2');
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

interface Statement {
  subject: { annotations: { image_id: string; layers: string[] } }[];
  predicate: {
    buildDefinition: { externalParameters: { source_date_epoch: number | null; playbooks: string[] }; resolvedDependencies: { name: string; digest: { sha256: string }; annotations?: { image_id?: string } }[] };
    runDetails: { builder: { version: Record<string, string> }; byproducts: { annotations: { label: string; cached: boolean; layer: string | null; fingerprint: string } }[] };
  };
}

function provenance(ref: string, env: Record<string, string> = {}): Statement {
  const run = strata(['provenance', ref, '--json'], env);
  assert.equal(run.code, 0, run.out);
  return JSON.parse(run.out.slice(0, run.out.lastIndexOf('}') + 1));
}

/** The ansible-core release ansible-playbook reports (`ansible-playbook [core 2.14.18]`). */
function ansibleCore(): string {
  const version = /\[core ([^\]]+)\]/.exec(command('ansible-playbook', ['--version']));
  assert.ok(version, 'ansible-playbook --version names its core');
  return version[1];
}

before(() => {
  dir = join(mkdtempSync(join(tmpdir(), 'strata-e2e-')), 'project');
  mkdirSync(join(dir, 'templates'), { recursive: true });
  writeFileSync(join(dir, 'site.yml'), PLAYBOOK);
  writeFileSync(template(), 'name={{ app_name }}\n');
  writeFileSync(join(dir, 'templates', 'secret.conf.j2'), 'password={{ db_password }}\n');
  writeInventory(dir, { app: { [host]: { strata_from: BASE_IMAGE, strata_image: tag, app_name: 'demo', db_password: 'hunter2-db', app_token: 's3cr3t-token' } } });
  second = startSecondDaemon();
  second.copyImages([BASE_IMAGE]);
});

after(async () => {
  await removeImages([tag], [host]);
  second?.stop();
  rmSync(join(dir, '..'), { recursive: true, force: true });
});

describe('SOURCE_DATE_EPOCH', () => {
  it('gives the same image ID on two daemons, built cold at different times', async () => {
    const first = build(withEpoch());
    assert.equal(recap(first.out)[host].failed, 0);
    mainImage = await inspect(tag);
    // Another second on the clock, another daemon, another engine, no cache.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const other = build({ ...withEpoch(), ...second.env });
    assert.ok(strataLines(other.out, host).every((line) => !line.startsWith('cached')), other.out);
    const otherImage = JSON.parse(command('docker', ['-H', second.host, 'image', 'inspect', tag]))[0];
    assert.deepEqual(otherImage.RootFS.Layers, mainImage.RootFS.Layers, 'the same layers');
    assert.equal(otherImage.Id, mainImage.Id, 'the same image ID');
    assert.equal(mainImage.RootFS.Layers!.length, (await inspect(BASE_IMAGE)).RootFS.Layers!.length + TASKS, 'a layer per task');
  });

  it('dates the image and every file a task left at the epoch, and leaves the variable out of the image', () => {
    assert.equal(mainImage.Created, EPOCH_TIME);
    const times = runInImage(tag, ['stat', '-c', '%Y %n', '/opt/app', '/opt/app/hello.txt', '/opt/app/app.conf', '/opt/app/fixed', '/etc/passwd', '/home/appuser']);
    for (const line of times.trim().split('\n')) assert.equal(line.split(' ')[0], String(EPOCH), line);
    assert.equal(runInImage(tag, ['cat', '/opt/app/app.conf']), 'name=demo\n');
    // The tasks' commands saw the epoch: useradd dates the password's last change with it, not today.
    const shadow = runInImage(tag, ['grep', '^appuser:', '/etc/shadow']).split(':');
    assert.equal(shadow[2], String(Math.floor(EPOCH / 86400)), shadow.join(':'));
    assert.ok(!(mainImage.Config.Env ?? []).some((pair) => pair.startsWith('SOURCE_DATE_EPOCH=')), JSON.stringify(mainImage.Config.Env));
    const history = spawnSync('docker', ['history', '--no-trunc', '--format', '{{.CreatedAt}} {{.Comment}}', tag], { encoding: 'utf8' }).stdout;
    const steps = history.split('\n').filter((line) => line.includes(`strata: ${host}: `));
    assert.equal(steps.length, TASKS, history);
    assert.ok(steps.every((line) => line.startsWith('2023-11-14T22:13:20')), history);
    const rows = JSON.parse(strata(['history', tag, '--json']).out) as { kind: string; madeBy: string }[];
    assert.deepEqual(rows.map((row) => row.kind), ['base', ...Array(TASKS).fill('task')], JSON.stringify(rows));
    assert.match(rows[TASKS].madeBy, new RegExp(`^${host}: shell `));
  });

  it('is a fingerprint input: another epoch, or none, builds every task again; the same one takes them all from the cache', async () => {
    const other = build(withEpoch(EPOCH + 1));
    assert.deepEqual(strataLines(other.out, host).filter((line) => line === 'cached'), [], other.out);
    const none = build();
    assert.deepEqual(strataLines(none.out, host).filter((line) => line === 'cached'), [], none.out);
    // Without the variable nothing changes: the image is dated now, as docker commit dates it.
    const plain = await inspect(tag);
    assert.ok(Math.abs(Date.parse(plain.Created) - Date.now()) < 10 * 60 * 1000, plain.Created);
    assert.notEqual(plain.Id, mainImage.Id);
    const again = build(withEpoch());
    assert.equal(strataLines(again.out, host).filter((line) => line === 'cached').length, TASKS, again.out);
    assert.equal((await inspect(tag)).Id, mainImage.Id, 'the cached rebuild gives the same image');
  });

  it('refuses an epoch that is not a whole number of seconds, naming host and variable, before any task', async () => {
    const bad = join(dir, '..', 'bad');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'site.yml'), PLAYBOOK);
    writeInventory(bad, { app: { [host]: { strata_from: BASE_IMAGE, strata_image: tag, strata_source_date_epoch: 'yesterday' } } });
    const run = playbook(bad);
    assert.notEqual(run.code, 0, run.out);
    assert.match(run.out, new RegExp(`host ${host}: strata_source_date_epoch must be a whole number of seconds since 1970`));
    assert.doesNotMatch(run.out, /TASK \[a folder\][\s\S]*changed:/);
    assert.deepEqual(await buildContainers([host]), []);
  });
});

describe('strata provenance', () => {
  it('names the base, ansible-core, the files, and each task\'s layer, all from the cache', async () => {
    const statement = provenance(tag);
    const image = await inspect(tag);
    const base = await inspect(BASE_IMAGE);
    assert.equal(statement.subject[0].annotations.image_id, image.Id);
    assert.deepEqual(statement.subject[0].annotations.layers, image.RootFS.Layers);
    const [baseDependency, ...files] = statement.predicate.buildDefinition.resolvedDependencies;
    assert.equal(baseDependency.annotations?.image_id, base.Id);
    assert.equal(statement.predicate.runDetails.builder.version['ansible-core'], ansibleCore());
    assert.equal(statement.predicate.buildDefinition.externalParameters.source_date_epoch, EPOCH);
    const digests = Object.fromEntries(files.map((file) => [file.name, file.digest.sha256]));
    assert.equal(digests['templates/app.conf.j2'], sha256(template()));
    assert.equal(digests['site.yml'], sha256(join(dir, 'site.yml')));
    const tasks = statement.predicate.runDetails.byproducts.map((b) => b.annotations);
    assert.equal(tasks.length, TASKS);
    assert.deepEqual(tasks.map((t) => t.layer), image.RootFS.Layers!.slice(base.RootFS.Layers!.length));
    assert.ok(tasks.every((t) => t.cached), JSON.stringify(tasks));
    // Nothing Ansible hides: a module's secret option (copy's content), a no_log task's files and values, environment:.
    const text = JSON.stringify(statement);
    for (const hidden of ['hello\\n', 'secret.conf.j2', 'hunter2-db', 's3cr3t-token', 'password']) assert.ok(!text.includes(hidden), `${hidden} in the provenance`);
    assert.deepEqual(tasks.slice(7).map((t) => t.label.split(' ')[0]), ['template', 'shell']);
    const verified = strata(['provenance', tag, '--verify']);
    assert.equal(verified.code, 0, verified.out);
    assert.match(verified.out, /verified: .* has the \d+ layers its provenance names/);
  });

  it('after a template edit, names the template\'s new digest and the tasks built again', () => {
    writeFileSync(template(), 'name={{ app_name }}\nport=8080\n');
    build(withEpoch());
    const statement = provenance(tag);
    const files = statement.predicate.buildDefinition.resolvedDependencies;
    assert.equal(files.find((file) => file.name === 'templates/app.conf.j2')?.digest.sha256, sha256(template()));
    const cached = statement.predicate.runDetails.byproducts.map((b) => [b.annotations.label.split(' ')[0], b.annotations.cached]);
    assert.deepEqual(cached.slice(0, 3), [['file', true], ['copy', true], ['template', false]], JSON.stringify(cached));
    assert.equal(strata(['provenance', tag, '--verify']).code, 0);
  });

  it('--verify fails on a tag moved back to an older build, on an image whose layer was swapped, and on a document another key signed', async () => {
    const original = (await inspect(tag)).Id;
    command('docker', ['tag', mainImage.Id, tag]);
    const rolledBack = strata(['provenance', tag, '--verify']);
    assert.equal(rolledBack.code, 1, rolledBack.out);
    assert.match(rolledBack.out, new RegExp(`it is not the image strata last built under this tag: that is ${original}`));
    assert.equal(strata(['provenance', mainImage.Id, '--verify']).code, 0, 'by its ID, the older image still verifies');
    command('docker', ['tag', original, tag]);
    swapLayer(tag, 2, 'opt/app/hello.txt', 'not what the playbook wrote\n');
    assert.notEqual((await inspect(tag)).Id, original);
    const swapped = strata(['provenance', tag, '--verify']);
    assert.equal(swapped.code, 1, swapped.out);
    assert.match(swapped.out, /is not the image its provenance describes: layer \d+ of the image is sha256:[0-9a-f]{64}, but the provenance names sha256:[0-9a-f]{64} \(task \d+: copy/);
    assert.equal(strata(['provenance', original, '--verify']).code, 0, 'the original still verifies');
    const otherKey = strata(['provenance', original, '--verify'], { STRATA_SECRET: 'not the key of this cache' });
    assert.equal(otherKey.code, 1, otherKey.out);
    assert.match(otherKey.out, /not signed by this cache's key/);
  });

  it('goes with its image: strata prune removes the provenance of an image it removed', async () => {
    const original = (await docker.listImages({ filters: { dangling: ['true'], label: [`strata.host=${host}`, 'strata.kind=final'] } })).map((i) => i.Id);
    assert.ok(original.length > 0, 'the image the swap took the tag from is still here, untagged');
    const attests = async () => (await docker.listImages({ filters: { reference: ['strata-provenance:*'], label: [`strata.host=${host}`] } })).map((i) => i.Labels['strata.attests']);
    const before = await attests();
    assert.ok(original.every((id) => before.includes(id)), `${original.join(' ')} attested in ${before.join(' ')}`);
    const pruned = strata(['prune', '--all', '--host', host]);
    assert.equal(pruned.code, 0, pruned.out);
    // Every image of the host it attested is gone (the tagged one is the swapped copy, which has none).
    assert.deepEqual(await attests(), []);
  });
});

/**
 * Puts `tag` on a copy of its image whose task layer `index` (counted over
 * the base's) holds `content` at `path` instead: saved, the layer rewritten,
 * its diff ID and the config changed to match, and loaded.
 */
function swapLayer(ref: string, index: number, path: string, content: string): void {
  const work = mkdtempSync(join(tmpdir(), 'strata-e2e-swap-'));
  try {
    command('bash', ['-c', 'set -o pipefail; docker save "$1" | tar -x -C "$2"', 'bash', ref, work]);
    const [manifest] = JSON.parse(readFileSync(join(work, 'manifest.json'), 'utf8'));
    const config = JSON.parse(readFileSync(join(work, manifest.Config), 'utf8'));
    const at = config.rootfs.diff_ids.length - TASKS + index - 1;
    const files = join(work, 'files');
    mkdirSync(join(files, path, '..'), { recursive: true });
    writeFileSync(join(files, path), content);
    command('tar', ['-c', '-f', join(work, manifest.Layers[at]), '-C', files, path]);
    config.rootfs.diff_ids[at] = `sha256:${sha256(join(work, manifest.Layers[at]))}`;
    writeFileSync(join(work, 'swapped.json'), JSON.stringify(config));
    writeFileSync(join(work, 'manifest.json'), JSON.stringify([{ ...manifest, Config: 'swapped.json', RepoTags: [ref] }]));
    command('bash', ['-c', 'tar -c -C "$1" . | docker load -q', 'bash', work]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
