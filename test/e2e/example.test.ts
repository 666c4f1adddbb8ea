// The example web app, built for real: cold, cached, after an edit, after a
// touch, after a variable change. Each step inspects the real image.

import assert from 'node:assert/strict';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  BASE_IMAGE,
  buildContainers,
  containersCreatedDuring,
  copyProject,
  inspect,
  layers,
  playbook,
  recap,
  removeImages,
  Run,
  runInImage,
  strataLines,
  unique,
  writeInventory,
} from './harness';

const host = unique('webapp');
const tag = `strata-e2e/${host}:latest`;
let dir: string;
let cold: Run;
let coldLayers: string[];
let baseLayerCount: number;

// The example's tasks in order, by what the strata line under each says.
const TASKS = ['facts', 'apt', 'user', 'dirs', 'copy code', 'template', 'compile', 'handler'];

before(async () => {
  dir = copyProject('examples/webapp');
  const inventory = await import('yaml').then((y) => y.parse(readFileSync(join(dir, 'inventory.yml'), 'utf8')));
  const vars = inventory.all.children.web.hosts.webapp;
  writeInventory(dir, { web: { [host]: { ...vars, strata_image: tag } } });
  baseLayerCount = (await layers(BASE_IMAGE)).length;
});

after(async () => {
  await removeImages([tag], [host]);
});

describe('the example, built end to end', () => {
  it('builds cold: one layer per task that changed files, the config applied', async () => {
    const created = await containersCreatedDuring(() => (cold = playbook(dir)));
    assert.equal(cold.code, 0, cold.out);
    assert.ok(created > 0, 'the event count sees the build containers of a cold build');
    const lines = strataLines(cold.out, host);
    assert.equal(lines.length, TASKS.length, lines.join('\n'));
    assert.ok(lines.every((l) => l.startsWith('built')), lines.join('\n'));
    coldLayers = await layers(tag);
    const layerTasks = lines.filter((l) => l.startsWith('built, layer')).length;
    assert.equal(coldLayers.length, baseLayerCount + layerTasks, 'one layer per task that changed files');
    assert.equal(lines[0], 'built, no file changed, no layer', 'gathering facts changes no file');

    const image = await inspect(tag);
    assert.deepEqual(image.Config.Cmd, ['python3', '/srv/app/server.py']);
    assert.equal(image.Config.User, 'app');
    assert.equal(image.Config.WorkingDir, '/srv/app');
    assert.ok(image.Config.Env?.includes('APP_ENV=production'));
    assert.ok('8080/tcp' in (image.Config.ExposedPorts ?? {}));
    assert.equal(image.Config.Labels?.['org.opencontainers.image.title'], 'strata example web app');
    assert.equal(image.Config.Labels?.['strata.kind'], 'final');

    assert.match(runInImage(tag, ['cat', '/etc/hello.ini']), /^port = 8080$/m);
    assert.equal(runInImage(tag, ['python3', '/srv/app/server.py', '--greeting']), 'Hello from an image built by strata\n');
    assert.match(runInImage(tag, ['curl', '--version']), /^curl /);
    assert.deepEqual(await buildContainers(), [], 'no build container is left');
  });

  it('rebuilds with nothing changed from the cache alone: no container, same recap', async () => {
    let warm!: Run;
    const created = await containersCreatedDuring(() => (warm = playbook(dir)));
    assert.equal(warm.code, 0, warm.out);
    assert.equal(created, 0, 'a fully cached rebuild starts no container');
    assert.deepEqual(recap(warm.out), recap(cold.out));
    assert.deepEqual(strataLines(warm.out, host), TASKS.map(() => 'cached'));
    assert.match(warm.out, /ok: \[.*\] => \{\n\s+"msg": "hello on Debian 12(\.\d+)?, port 8080"/, 'facts and vars replayed into later tasks');
    assert.match(warm.out, /RUNNING HANDLER \[app : Check the config\]/, 'a cached task still notifies its handler');
    assert.deepEqual(await layers(tag), coldLayers);
  });

  it('touching a file without changing it rebuilds nothing', async () => {
    const now = new Date();
    utimesSync(join(dir, 'roles/app/files/app/static/index.html'), now, now);
    utimesSync(join(dir, 'roles/app/templates/config.ini.j2'), now, now);
    let run!: Run;
    const created = await containersCreatedDuring(() => (run = playbook(dir)));
    assert.equal(run.code, 0, run.out);
    assert.equal(created, 0);
    assert.deepEqual(strataLines(run.out, host), TASKS.map(() => 'cached'));
  });

  it('editing one copied file re-runs that task and the ones after it only, earlier layers untouched', async () => {
    writeFileSync(join(dir, 'roles/app/files/app/static/index.html'), '<h1>edited</h1>\n');
    const run = playbook(dir);
    assert.equal(run.code, 0, run.out);
    const lines = strataLines(run.out, host);
    const copyAt = TASKS.indexOf('copy code');
    assert.deepEqual(lines.slice(0, copyAt), TASKS.slice(0, copyAt).map(() => 'cached'));
    assert.ok(lines.slice(copyAt).every((l) => l.startsWith('built')), lines.join('\n'));
    const now = await layers(tag);
    // Layers of the cached tasks before the copy are byte-identical: same digests.
    const before = coldLayers.length - 3; // the copy, template and compile layers come last
    assert.deepEqual(now.slice(0, before), coldLayers.slice(0, before));
    assert.notDeepEqual(now, coldLayers);
    assert.equal(runInImage(tag, ['cat', '/srv/app/static/index.html']), '<h1>edited</h1>\n');
  });

  it('changing a variable re-renders the template that uses it', async () => {
    const vars = join(dir, 'group_vars/all.yml');
    writeFileSync(vars, readFileSync(vars, 'utf8') + 'app_greeting: Greetings, edited\n');
    const run = playbook(dir);
    assert.equal(run.code, 0, run.out);
    const lines = strataLines(run.out, host);
    const templateAt = TASKS.indexOf('template');
    assert.deepEqual(lines.slice(0, templateAt), TASKS.slice(0, templateAt).map(() => 'cached'));
    assert.match(lines[templateAt], /^built, layer/);
    assert.equal(runInImage(tag, ['python3', '/srv/app/server.py', '--greeting']), 'Greetings, edited\n');
  });
});
