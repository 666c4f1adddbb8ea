// strata as a user gets it: the tarball npm would publish, installed into an
// empty prefix, and used from a project folder outside this checkout with
// lines in its ansible.cfg instead of `eval "$(strata env)"`, `strata doctor`
// first. Nothing of the checkout is on the way.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { copyProject, removeImages, ROOT, Run, strataLines, unique, writeInventory } from './harness';

const work = mkdtempSync(join(tmpdir(), 'strata-install-'));
const prefix = join(work, 'prefix');
const strataBin = join(prefix, 'bin', 'strata');
const host = unique('installed');
const tag = `strata-e2e/${host}:latest`;
let tarball = '';
let project = '';

/** The environment of a new shell: nothing of `strata env`, nothing of this checkout. */
function freshShell(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_RETRY_FILES_ENABLED: '0', ...extra };
  for (const name of Object.keys(env)) {
    if (name.startsWith('STRATA_') || ['ANSIBLE_STRATEGY', 'ANSIBLE_STRATEGY_PLUGINS', 'ANSIBLE_CALLBACK_PLUGINS', 'ANSIBLE_CONFIG'].includes(name)) delete env[name];
  }
  return { ...env, ...extra };
}

function inProject(program: string, args: string[], extra: Record<string, string> = {}): Run {
  const started = Date.now();
  const result = spawnSync(program, args, { cwd: project, encoding: 'utf8', env: freshShell(extra), maxBuffer: 64 * 1024 * 1024 });
  return { code: result.status ?? -1, out: `${result.stdout ?? ''}${result.stderr ?? ''}`, seconds: (Date.now() - started) / 1000 };
}

before(() => {
  const packed = spawnSync('npm', ['pack', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(packed.status, 0, packed.stderr);
  tarball = join(work, packed.stdout.trim().split('\n').pop()!);
  mkdirSync(prefix);
  const installed = spawnSync('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], { encoding: 'utf8' });
  assert.equal(installed.status, 0, installed.stderr);
  project = copyProject('examples/webapp');
  const vars = parse(readFileSync(join(project, 'inventory.yml'), 'utf8')).all.children.web.hosts.webapp;
  writeInventory(project, { web: { [host]: { ...vars, strata_image: tag } } });
});

after(async () => {
  await removeImages([tag], [host]);
  rmSync(work, { recursive: true, force: true });
});

describe('installed from its npm package', () => {
  it('ships what a user needs, and nothing of the tests', () => {
    const listed = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout.split('\n');
    assert.ok(listed.includes('package/python_shim/strategy/strata.py') && listed.includes('package/dist/src/cli/main.js'), listed.join('\n'));
    assert.deepEqual(listed.filter((f) => /^package\/(test|dist\/test|src)\/|__pycache__|\.map$/.test(f)), []);
    assert.ok(statSync(tarball).size < 200 * 1024, `the tarball is ${statSync(tarball).size} bytes`);
  });

  it('strata doctor finds everything a build needs, the inventory\'s base image included', () => {
    const doctor = inProject(strataBin, ['doctor', '-i', 'inventory.yml']);
    assert.equal(doctor.code, 0, doctor.out);
    for (const check of ['docker', 'docker-cli', 'ansible', 'python-libraries', 'community.docker', 'base strata-base:bookworm', 'cache']) {
      assert.match(doctor.out, new RegExp(`^ok\\s+${check.replace('.', '\\.')}: `, 'm'), doctor.out);
    }
  });

  it('builds from two ansible.cfg sections alone, and rebuilds from the cache', () => {
    const cfg = inProject(strataBin, ['env', '--ansible-cfg']);
    assert.equal(cfg.code, 0, cfg.out);
    assert.ok(cfg.out.includes(join(prefix, 'lib', 'node_modules', 'strata-ansible', 'python_shim', 'strategy')), cfg.out);
    assert.ok(!cfg.out.includes(ROOT), `ansible.cfg points into the checkout:\n${cfg.out}`);
    writeFileSync(join(project, 'ansible.cfg'), cfg.out);
    const cold = inProject('ansible-playbook', ['-i', 'inventory.yml', 'site.yml']);
    assert.equal(cold.code, 0, cold.out);
    assert.ok(strataLines(cold.out, host).some((l) => l.startsWith('built')), cold.out);
    const warm = inProject('ansible-playbook', ['-i', 'inventory.yml', 'site.yml']);
    assert.equal(warm.code, 0, warm.out);
    const lines = strataLines(warm.out, host);
    assert.ok(lines.length > 0 && lines.every((l) => l === 'cached'), warm.out);
  });
});

describe('what strata says when something a build needs is missing', () => {
  // A msgpack that cannot be imported, ahead of the real one on Ansible's Python path.
  const hidden = join(work, 'hide-msgpack');
  before(() => {
    mkdirSync(join(hidden, 'msgpack'), { recursive: true });
    writeFileSync(join(hidden, 'msgpack', '__init__.py'), 'raise ImportError("hidden by a test")\n');
  });

  it('strata doctor names Docker that cannot be reached, and a library Ansible\'s Python lacks, with their fixes', () => {
    const doctor = inProject(strataBin, ['doctor'], { DOCKER_HOST: 'unix:///nonexistent/docker.sock', PYTHONPATH: hidden });
    assert.equal(doctor.code, 1, doctor.out);
    assert.match(doctor.out, /^fail\s+docker: cannot reach the Docker daemon at unix:\/\/\/nonexistent\/docker\.sock/m);
    assert.match(doctor.out, /^fail\s+python-libraries: \S+ cannot import msgpack\n\s+fix: \S/m);
    const json = JSON.parse(inProject(strataBin, ['doctor', '--json'], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' }).out);
    assert.equal(json.ok, false);
    assert.equal(json.checks.find((c: { name: string }) => c.name === 'docker').status, 'fail');
  });

  it('ansible-playbook stops at once, naming the Python that runs it and the fix', () => {
    const run = inProject('ansible-playbook', ['-i', 'inventory.yml', 'site.yml'], { PYTHONPATH: hidden });
    assert.notEqual(run.code, 0);
    assert.match(run.out, /strata needs the Python libraries msgpack and websocket-client in the Python that runs\s+ansible-playbook \(\S+\), which cannot import msgpack\. Add them to that install: \S/);
  });
});
