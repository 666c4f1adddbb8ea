// `strata doctor`: everything a build needs, checked one by one, each said
// as ok (with what was found) or as what is wrong and the command that fixes
// it. It changes nothing. Exit status 1 when anything a build needs is missing.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { listEntries } from '../cache/catalog';
import { connectDocker, dockerMessage, isDockerUnreachable } from '../docker/client';
import { BaseToolsMemo } from '../docker/base-tools';
import { readSettings } from '../engine/settings';
import { PACKAGE_ROOT } from '../engine/version';
import { ExitCode } from './errors';
import { humanBytes } from './format';

type Status = 'ok' | 'warn' | 'fail';

export interface Check {
  name: string;
  status: Status;
  /** What was found, or what is wrong. */
  detail: string;
  /** The command or step that fixes it. */
  fix?: string;
}

function run(program: string, args: string[], env: NodeJS.ProcessEnv = process.env): { ok: boolean; out: string } {
  const result = spawnSync(program, args, { encoding: 'utf8', env, timeout: 60_000 });
  return { ok: result.status === 0, out: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() || (result.error?.message ?? '') };
}

function checkNode(): Check {
  const major = Number(process.versions.node.split('.')[0]);
  return major >= 20
    ? { name: 'node', status: 'ok', detail: `Node ${process.version} (${process.execPath})` }
    : { name: 'node', status: 'fail', detail: `Node ${process.version} is too old`, fix: 'install Node 20 or later' };
}

async function checkDocker(docker: Dockerode, dockerHost: string): Promise<Check> {
  try {
    const version = await docker.version();
    return { name: 'docker', status: 'ok', detail: `Docker ${version.Version} at ${dockerHost}` };
  } catch (err) {
    const why = isDockerUnreachable(err) ? (err as Error).message : dockerMessage(err);
    return {
      name: 'docker',
      status: 'fail',
      detail: `cannot reach the Docker daemon at ${dockerHost} (${why})`,
      fix: 'start Docker (`sudo systemctl start docker`, or `make setup` in a checkout), make its socket readable by this user, or point DOCKER_HOST at a running daemon',
    };
  }
}

function checkDockerCli(): Check {
  const cli = run('docker', ['--version']);
  return cli.ok
    ? { name: 'docker-cli', status: 'ok', detail: cli.out }
    : { name: 'docker-cli', status: 'fail', detail: 'no `docker` command: community.docker\'s connection runs through it what strata leaves to it (a become with a password, a file over 64 MiB, fetch)', fix: 'install the Docker CLI (Debian: apt-get install docker.io)' };
}

/** What the plugin's requirements.py says when Ansible's own Python runs it. */
interface AnsibleProbe {
  ansible_core: string;
  oldest: number[];
  newest_tested: number[];
  missing: string[];
  fix: string | null;
}

/** The Python `ansible-playbook` runs with, from its --version; undefined (and why) when there is none. */
function ansiblePython(): { python?: string; why: string } {
  const out = run('ansible-playbook', ['--version']);
  const python = /python version = .*\((\/[^)]+)\)\s*$/m.exec(out.out)?.[1];
  return { python: out.ok ? python : undefined, why: out.out.split('\n')[0] };
}

/** The ansible-core release and strata's Python libraries, asked of Ansible's Python by the plugin's own check. */
function checkAnsible(): Check[] {
  const { python, why } = ansiblePython();
  const install = 'install ansible-core 2.14 or later (pipx install ansible-core, or Debian: apt-get install ansible-core)';
  if (!python) return [{ name: 'ansible', status: 'fail', detail: `no working ansible-playbook on PATH (${why})`, fix: install }];
  const asked = run(python, [join(PACKAGE_ROOT, 'python_shim', 'strata_ansible', 'requirements.py')]);
  let probe: AnsibleProbe;
  try {
    probe = JSON.parse(asked.out.split('\n').pop() ?? '') as AnsibleProbe;
  } catch {
    return [{ name: 'ansible', status: 'fail', detail: `could not ask Ansible's Python (${python}): ${asked.out.split('\n').pop()}` }];
  }
  return [releaseCheck(probe, python, install), librariesCheck(probe, python)];
}

function releaseCheck(probe: AnsibleProbe, python: string, install: string): Check {
  const release = probe.ansible_core.split('.').slice(0, 2).map(Number);
  const [oldest, newest] = [probe.oldest.join('.'), probe.newest_tested.join('.')];
  const text = `ansible-core ${probe.ansible_core} (Python ${python})`;
  if (compare(release, probe.oldest) < 0) return { name: 'ansible', status: 'fail', detail: `${text} is older than ${oldest}, which strata needs`, fix: install };
  if (compare(release, probe.newest_tested) > 0) {
    return { name: 'ansible', status: 'warn', detail: `${text} is newer than ${newest}, the newest release strata is tested with; it runs, with a warning` };
  }
  return { name: 'ansible', status: 'ok', detail: `${text}, within the tested range ${oldest} to ${newest}` };
}

function librariesCheck(probe: AnsibleProbe, python: string): Check {
  if (!probe.missing.length) return { name: 'python-libraries', status: 'ok', detail: `msgpack and websocket-client import in ${python}` };
  return { name: 'python-libraries', status: 'fail', detail: `${python} cannot import ${probe.missing.join(' or ')}`, fix: probe.fix ?? undefined };
}

function compare(a: number[], b: number[]): number {
  return a[0] - b[0] || a[1] - b[1];
}

function checkCommunityDocker(): Check {
  const listed = run('ansible-galaxy', ['collection', 'list', 'community.docker', '--format', 'json']);
  const versions = listed.ok ? Object.values(JSON.parse(listed.out.slice(listed.out.indexOf('{')) || '{}') as Record<string, Record<string, { version: string }>>).flatMap((c) => Object.values(c).map((v) => v.version)) : [];
  return versions.length
    ? { name: 'community.docker', status: 'ok', detail: `community.docker ${versions.join(', ')}` }
    : { name: 'community.docker', status: 'fail', detail: 'the community.docker collection is not installed: its connection takes the commands strata leaves to it (a become with a password, a file over 64 MiB, fetch)', fix: 'ansible-galaxy collection install community.docker (Debian: apt-get install ansible)' };
}

/** Each image host's base image, from `ansible-inventory`: present, and with a Python for Ansible's modules or the mounted one. */
async function checkBaseImages(docker: Dockerode, inventory: string, baseTools: BaseToolsMemo): Promise<Check[]> {
  const listed = run('ansible-inventory', ['-i', inventory, '--list']);
  if (!listed.ok) return [{ name: 'inventory', status: 'fail', detail: `ansible-inventory -i ${inventory} failed: ${listed.out.split('\n').pop()}` }];
  const hostvars = (JSON.parse(listed.out.slice(listed.out.indexOf('{'))) as { _meta?: { hostvars?: Record<string, Record<string, unknown>> } })._meta?.hostvars ?? {};
  const bases = new Map<string, { hosts: string[]; imageOnly: boolean }>();
  for (const [host, vars] of Object.entries(hostvars)) {
    if (typeof vars.strata_from !== 'string') continue;
    const seen = bases.get(vars.strata_from) ?? { hosts: [], imageOnly: false };
    seen.hosts.push(host);
    seen.imageOnly ||= vars.strata_python === 'image';
    bases.set(vars.strata_from, seen);
  }
  if (!bases.size) return [{ name: 'inventory', status: 'warn', detail: `no host in ${inventory} has strata_from, so none is built as an image` }];
  const checks: Check[] = [];
  for (const [base, { hosts, imageOnly }] of bases) checks.push(await checkBaseImage(docker, baseTools, base, hosts, imageOnly));
  return checks;
}

async function checkBaseImage(docker: Dockerode, baseTools: BaseToolsMemo, base: string, hosts: string[], imageOnly: boolean): Promise<Check> {
  const name = `base ${base}`;
  const of = `(strata_from of ${hosts.join(', ')})`;
  let imageId: string;
  try {
    imageId = (await docker.getImage(base).inspect()).Id;
  } catch {
    return { name, status: 'fail', detail: `${base} ${of} is not in Docker`, fix: `docker pull ${base}, or build it` };
  }
  const { python } = await baseTools.tools(docker, imageId, DEFAULT_INTERPRETER);
  if (python) return { name, status: 'ok', detail: `${base} ${of} has ${DEFAULT_INTERPRETER}` };
  if (!imageOnly) return { name, status: 'ok', detail: `${base} ${of} has no ${DEFAULT_INTERPRETER}: Ansible's modules run with the Python strata mounts while building` };
  return { name, status: 'fail', detail: `${base} ${of} has no ${DEFAULT_INTERPRETER}, and strata_python: image asks for the image's own`, fix: 'leave strata_python unset (or set it to mounted) to build with the mounted Python' };
}

/** The Python Ansible's modules run with in an image, unless a host says otherwise. */
const DEFAULT_INTERPRETER = '/usr/bin/python3';

async function checkCache(docker: Dockerode): Promise<Check> {
  const entries = await listEntries(docker);
  const bytes = entries.reduce((sum, e) => sum + e.layerBytes, 0);
  return { name: 'cache', status: 'ok', detail: `${entries.length} entries, ${humanBytes(bytes)} of layers (strata ls lists them, strata prune removes them)` };
}

export async function doctorChecks(opts: { inventory?: string }): Promise<Check[]> {
  const settings = readSettings();
  const docker = connectDocker();
  const checks: Check[] = [checkNode()];
  const dockerCheck = await checkDocker(docker, settings.dockerHost);
  checks.push(dockerCheck, checkDockerCli());
  const ansible = checkAnsible();
  checks.push(...ansible);
  if (ansible[0].status !== 'fail') checks.push(checkCommunityDocker());
  if (dockerCheck.status === 'ok') {
    if (opts.inventory) checks.push(...(await checkBaseImages(docker, opts.inventory, settings.baseTools)));
    checks.push(await checkCache(docker));
  }
  return checks;
}

export async function doctorCommand(opts: { inventory?: string; json?: boolean }): Promise<void> {
  const checks = await doctorChecks(opts);
  const failed = checks.some((c) => c.status === 'fail');
  if (opts.json) {
    process.stdout.write(JSON.stringify({ ok: !failed, checks }, null, 2) + '\n');
  } else {
    for (const c of checks) {
      process.stdout.write(`${c.status.padEnd(4)}  ${c.name}: ${c.detail}\n`);
      if (c.fix) process.stdout.write(`      fix: ${c.fix}\n`);
    }
    process.stdout.write(failed ? 'Something a build needs is missing: see fix: above.\n' : 'Everything a build needs is here.\n');
  }
  if (failed) process.exitCode = ExitCode.Failure;
}
