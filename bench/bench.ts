// `make bench`: the same 20-task build done every way a user could do it, on
// this machine, in one run, several rounds; prints median ratios as a markdown
// table and writes bench/results.md and bench/results.svg.
//
//   stock   ansible-playbook (linear) into one plain container, then one docker commit
//   cold    strata, empty cache          warm   strata, nothing changed
//   edit    strata, the last copied file changed
//   floor   ansible-playbook --list-tasks (Ansible's own start-up)
//   walk    stock ansible-playbook with every task skipped: Ansible's own
//           start-up plus its walk through the tasks, with nothing to do
//   docker  the same steps as a Dockerfile: cold (--no-cache), warm, edit
//
// Then the engine alone: cache lookups per second with 10,000 entries for a
// host, and the engine's peak resident memory during a 150-task build.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Dockerode from 'dockerode';
import { parse, stringify } from 'yaml';
import { CACHE_REPO, entryLabels } from '../src/cache/entries';
import { packValue, storedText } from '../src/cache/stored-value';
import { DockerEntryStore } from '../src/cache/entry-store';
import { HostIndexes } from '../src/cache/image-events';
import { readSettings } from '../src/engine/settings';
import { PACKAGE_ROOT } from '../src/engine/version';

const ROOT = PACKAGE_ROOT;
const STRATA = join(ROOT, 'bin', 'strata.js');
const BASE = 'strata-base:bookworm';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const docker = new Dockerode();

interface Round {
  stock: number;
  cold: number;
  warm: number;
  edit: number;
  editTask: number;
  floor: number;
  walk: number;
  dockerCold: number;
  dockerWarm: number;
  dockerEdit: number;
  strataBytes: number;
  dockerBytes: number;
}

function seconds(run: () => void): number {
  const start = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function sh(command: string, cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const result = spawnSync('bash', ['-c', command], { cwd, encoding: 'utf8', env: { ...env, ANSIBLE_NOCOLOR: '1' }, maxBuffer: 64 << 20 });
  if (result.status !== 0) throw new Error(`${command} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/**
 * The environment `eval "$(strata env)"` makes, read once, as a user's shell
 * keeps it: no timed command pays for the Node start of `strata env`, which
 * would add the same 0.1 s to the floor and to every build, and flatter
 * every ratio to the floor.
 */
function strataEnv(): NodeJS.ProcessEnv {
  const made = spawnSync('bash', ['-c', `eval "$(node ${STRATA} env)" && env -0`], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`strata env failed:\n${made.stderr}`);
  return Object.fromEntries(made.stdout.split('\0').filter(Boolean).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

const STRATA_ENV = strataEnv();

/** `command` run with strata set up (see strataEnv). */
function withStrata(command: string, cwd: string): string {
  return sh(command, cwd, STRATA_ENV);
}

function inventory(dir: string, host: string, vars: Record<string, unknown>): void {
  writeFileSync(join(dir, 'inventory.yml'), stringify({ all: { hosts: { [host]: vars } } }));
}

/** Bytes of an image's layers above the base image's. */
async function bytesAboveBase(image: string): Promise<number> {
  const [info, base] = await Promise.all([docker.getImage(image).inspect(), docker.getImage(BASE).inspect()]);
  return info.Size - base.Size;
}

async function round(n: number): Promise<Round> {
  const dir = join(mkdtempSync(join(tmpdir(), 'strata-bench-')), 'playbook');
  cpSync(join(ROOT, 'bench', 'playbook'), dir, { recursive: true });
  const host = `bench-${randomBytes(3).toString('hex')}`;
  const tag = `strata-bench/${host}:latest`;

  // stock: a plain container, linear, one commit at the end
  const container = `strata-bench-stock-${host}`;
  sh(`docker run -d --name ${container} ${BASE} sleep infinity`, dir);
  inventory(dir, host, { ansible_connection: 'community.docker.docker', ansible_host: container, ansible_python_interpreter: '/usr/bin/python3', ansible_pipelining: true });
  const stock = seconds(() => {
    sh('ANSIBLE_STRATEGY=linear ansible-playbook -i inventory.yml site.yml', dir);
    sh(`docker commit ${container} strata-bench/stock-${host}`, dir);
  });
  sh(`docker rm -f ${container} && docker rmi strata-bench/stock-${host}`, dir);

  inventory(dir, host, { strata_from: BASE, strata_image: tag });
  // No engine left from before: the cold build pays for starting the per-user engine.
  sh(`node ${STRATA} stop >/dev/null`, dir);
  const floor = seconds(() => withStrata(`ansible-playbook -i inventory.yml site.yml --list-tasks`, dir));
  const walk = seconds(() => withStrata(`${STOCK_WALK} ansible-playbook -i inventory.yml ${skippingEveryTask(dir, 'site.yml')}`, dir));
  const cold = seconds(() => withStrata(`ansible-playbook -i inventory.yml site.yml`, dir));
  const warm = seconds(() => withStrata(`ansible-playbook -i inventory.yml site.yml`, dir));
  writeFileSync(join(dir, 'files', 'app.txt'), `version ${n} ${host}\n`);
  let editOut = '';
  const edit = seconds(() => (editOut = withStrata(`ansible-playbook -i inventory.yml site.yml`, dir)));
  const editTask = Number(/strata: \[[^\]]+\] built, [^(]*\(([\d.]+)s\)/.exec(editOut)?.[1] ?? 0);
  const strataBytes = await bytesAboveBase(tag);

  writeFileSync(join(dir, 'files', 'app.txt'), 'version 0\n');
  const dockerTag = `strata-bench/docker-${host}`;
  const build = (extra: string) => sh(`DOCKER_BUILDKIT=0 docker build -q ${extra} -t ${dockerTag} .`, dir);
  const dockerCold = seconds(() => build('--no-cache'));
  const dockerWarm = seconds(() => build(''));
  writeFileSync(join(dir, 'files', 'app.txt'), `version ${n} ${host}\n`);
  const dockerEdit = seconds(() => build(''));
  const dockerBytes = await bytesAboveBase(dockerTag);

  sh(`docker rmi ${dockerTag} ${tag} >/dev/null; node ${STRATA} prune --all --host ${host} >/dev/null; docker image prune -f >/dev/null`, dir);
  rmSync(join(dir, '..'), { recursive: true, force: true });
  return { stock, cold, warm, edit, editTask, floor, walk, dockerCold, dockerWarm, dockerEdit, strataBytes, dockerBytes };
}

/** Stock Ansible (strata's env undone), connecting nowhere: every task is skipped. */
const STOCK_WALK = 'ANSIBLE_STRATEGY=linear';

/** A copy of the playbook `file` in `dir` whose tasks are all skipped (`when: false`); its name. */
function skippingEveryTask(dir: string, file: string): string {
  const plays = parse(readFileSync(join(dir, file), 'utf8')) as { tasks: unknown[] }[];
  const walk = plays.map((play) => ({ ...play, tasks: [{ block: play.tasks, when: false }] }));
  writeFileSync(join(dir, `walk-${file}`), stringify(walk));
  return `walk-${file}`;
}

interface Scale {
  tasks: number;
  floor: number;
  walk: number;
  warm: number;
  /** The plugin's own account of the median warm round (STRATA_PROFILE): seconds per part. */
  own: Record<string, number>;
}

/** The parts of `strata: own time ...: describe 0.123s, engine 0.045s`. */
function ownTime(output: string): Record<string, number> {
  const line = /^strata: own time .*?: (.*)$/m.exec(output)?.[1] ?? '';
  return Object.fromEntries([...line.matchAll(/(\w+) ([\d.]+)s/g)].map(([, part, s]) => [part, Number(s)]));
}

/**
 * A playbook of `tasks` commands, built once, then rebuilt with nothing
 * changed `ROUNDS` times against its --list-tasks: what strata adds to
 * Ansible's own work per cached task, at that size, and where its own part goes.
 */
function scale(tasks: number): Scale {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-scale-'));
  const host = `bench-scale-${randomBytes(3).toString('hex')}`;
  inventory(dir, host, { strata_from: BASE, strata_image: `strata-bench/${host}:latest` });
  const body = Array.from({ length: tasks }, (_, i) => `    - command: echo ${i}\n      changed_when: false\n`).join('');
  writeFileSync(join(dir, 'site.yml'), `- hosts: all\n  gather_facts: false\n  tasks:\n${body}`);
  const run = (args = '') => withStrata(`STRATA_PROFILE=1 ansible-playbook -i inventory.yml site.yml ${args}`, dir);
  run();
  const floors: number[] = [];
  const walks: number[] = [];
  const walkFile = skippingEveryTask(dir, 'site.yml');
  const warms: { seconds: number; own: Record<string, number> }[] = [];
  for (let n = 0; n < ROUNDS; n++) {
    floors.push(seconds(() => run('--list-tasks')));
    walks.push(seconds(() => withStrata(`${STOCK_WALK} ansible-playbook -i inventory.yml ${walkFile}`, dir)));
    let output = '';
    warms.push({ seconds: seconds(() => (output = run())), own: ownTime(output) });
  }
  const warm = median(warms.map((w) => w.seconds));
  sh(`docker rmi strata-bench/${host}:latest >/dev/null; node ${STRATA} prune --all --host ${host} >/dev/null`, dir);
  rmSync(dir, { recursive: true, force: true });
  return { tasks, floor: median(floors), walk: median(walks), warm, own: warms.find((w) => w.seconds === warm)?.own ?? warms[0].own };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** 10,000 cache entries for one host, made with one `docker load` of image configs over the base's layer. */
async function populate(host: string, count: number): Promise<string[]> {
  const base = await docker.getImage(BASE).inspect();
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-load-'));
  const manifest = [];
  const fingerprints: string[] = [];
  for (let i = 0; i < count; i++) {
    const fingerprint = randomBytes(32).toString('hex');
    fingerprints.push(fingerprint);
    const labels = entryLabels({
      fingerprint,
      parent: i ? fingerprints[i - 1] : base.Id,
      host,
      position: i,
      task: `command echo ${i}`,
      result: packValue({ changed: true, rc: 0, stdout: String(i) }),
      inputs: { action: 'ansible.builtin.command', args: { _raw_params: `echo ${i}` } },
      secret: false,
      build: 'bench',
      seconds: 1,
    }, readSettings().sealing);
    const texts = Object.fromEntries(Object.entries(labels).map(([name, value]) => [name, typeof value === 'string' ? value : storedText(value)]));
    const config = { architecture: base.Architecture, os: base.Os, config: { Labels: texts }, rootfs: { type: 'layers', diff_ids: base.RootFS.Layers } };
    writeFileSync(join(dir, `${i}.json`), JSON.stringify(config));
    manifest.push({ Config: `${i}.json`, RepoTags: [`${CACHE_REPO}:${fingerprint}`], Layers: (base.RootFS.Layers ?? []).map((_, l) => `base${l}/layer.tar`) });
  }
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  execFileSync('bash', ['-c', `tar -C ${dir} -cf - . | docker load -q >/dev/null`]);
  rmSync(dir, { recursive: true, force: true });
  return fingerprints;
}

async function lookupsPerSecond(): Promise<{ loadMs: number; perLookupMs: number; perSecond: number; entries: number }> {
  const host = `bench-index-${randomBytes(3).toString('hex')}`;
  const fingerprints = await populate(host, 10_000);
  try {
    const start = process.hrtime.bigint();
    const index = new DockerEntryStore(docker, host, readSettings(), new HostIndexes(docker, false));
    const entries = await index.indexed;
    const loadMs = Number(process.hrtime.bigint() - start) / 1e6;
    const lookups = 20_000;
    const t = process.hrtime.bigint();
    for (let i = 0; i < lookups; i++) {
      const at = i % fingerprints.length;
      const hit = await index.lookup(fingerprints[at], at ? fingerprints[at - 1] : (await docker.getImage(BASE).inspect()).Id);
      if (!hit) throw new Error(`entry ${at} did not hit`);
    }
    const perLookupMs = Number(process.hrtime.bigint() - t) / 1e6 / lookups;
    return { loadMs, perLookupMs, perSecond: 1000 / perLookupMs, entries };
  } finally {
    sh(`node ${STRATA} prune --all --host ${host} >/dev/null`, ROOT);
  }
}

/** Peak resident memory of the engine during a 150-task build, sampled every 100 ms. */
async function engineMemory(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-mem-'));
  const host = `bench-mem-${randomBytes(3).toString('hex')}`;
  const tasks = Array.from({ length: 150 }, (_, i) => `    - copy: {content: "${i}\\n", dest: /chain-${i}}\n`).join('');
  writeFileSync(join(dir, 'site.yml'), `- hosts: all\n  gather_facts: false\n  tasks:\n${tasks}`);
  inventory(dir, host, { strata_from: BASE });
  // A fresh engine, so its peak is this build's.
  sh(`node ${STRATA} stop >/dev/null`, dir);
  const build = spawn('bash', ['-c', 'ansible-playbook -i inventory.yml site.yml >/dev/null'], { cwd: dir, env: STRATA_ENV });
  let peak = 0;
  const sample = setInterval(() => {
    const pids = spawnSync('pgrep', ['-f', 'strata.js serve'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    for (const pid of pids) {
      try {
        const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (rss) peak = Math.max(peak, Number(rss[1]) * 1024);
      } catch {
        // the engine just exited
      }
    }
  }, 100);
  await new Promise((resolve) => build.once('exit', resolve));
  clearInterval(sample);
  sh(`node ${STRATA} prune --all --host ${host} >/dev/null`, ROOT);
  rmSync(dir, { recursive: true, force: true });
  return peak;
}

const fmt = (x: number, digits = 2) => x.toFixed(digits);

// The parts of the plugin's stopwatch (python_shim/strata_ansible/stopwatch.py), in its order.
const PROFILE_PARTS = ['connect', 'describe', 'code', 'engine', 'replay', 'after'];

function chart(rows: [string, number, number][]): string {
  // Horizontal bars, one per ratio, with its target marked.
  const width = 640;
  const barArea = 360;
  const max = Math.max(...rows.flatMap(([, value, target]) => [value, target])) * 1.1;
  const lines = rows.map(([label, value, target], i) => {
    const y = 40 + i * 34;
    const w = (value / max) * barArea;
    const t = 230 + (target / max) * barArea;
    const good = value <= target;
    return [
      `<text x="10" y="${y + 15}" font-size="13">${label}</text>`,
      `<rect x="230" y="${y}" width="${w.toFixed(1)}" height="20" fill="${good ? '#2e7d32' : '#c62828'}"/>`,
      `<text x="${(236 + w).toFixed(1)}" y="${y + 15}" font-size="12">${fmt(value)}</text>`,
      `<line x1="${t.toFixed(1)}" x2="${t.toFixed(1)}" y1="${y - 3}" y2="${y + 23}" stroke="#333" stroke-dasharray="3,2"/>`,
    ].join('');
  });
  const height = 60 + rows.length * 34;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<text x="10" y="22" font-size="15" font-weight="bold">strata benchmark: median ratios (dashed line: target)</text>
${lines.join('\n')}
</svg>
`;
}

async function main(): Promise<void> {
  const rounds: Round[] = [];
  for (let n = 1; n <= ROUNDS; n++) {
    process.stderr.write(`round ${n} of ${ROUNDS}...\n`);
    rounds.push(await round(n));
  }
  const m = (pick: (r: Round) => number) => median(rounds.map(pick));
  // BENCH_ENGINE=0 skips the engine-alone measurements (several minutes), for quick comparisons.
  const engineToo = process.env.BENCH_ENGINE !== '0';
  process.stderr.write(engineToo ? 'engine alone: 10,000 entries...\n' : '');
  const lookup = engineToo ? await lookupsPerSecond() : { loadMs: NaN, perLookupMs: NaN, perSecond: NaN, entries: 0 };
  process.stderr.write(engineToo ? 'engine alone: memory during a 150-task build...\n' : '');
  const memory = engineToo ? await engineMemory() : NaN;
  const scales = [150, 500].map((tasks) => {
    process.stderr.write(`${tasks} cached tasks...\n`);
    return scale(tasks);
  });

  const ratios: [string, number, number][] = [
    ['warm / floor', m((r) => r.warm / r.floor), 1.25],
    ['cold / stock', m((r) => r.cold / r.stock), 1.2],
    ['(edit - changed task) / floor', m((r) => (r.edit - r.editTask) / r.floor), 1.5],
    ['strata bytes / Dockerfile bytes', m((r) => r.strataBytes / r.dockerBytes), 1.1],
  ];
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Docker ${execFileSync('docker', ['version', '-f', '{{.Server.Version}}']).toString().trim()}, ${new Date().toISOString().slice(0, 10)}`;
  const table = [
    `Machine: ${machine}. ${ROUNDS} rounds; medians.`,
    '',
    '| what | seconds |',
    '|---|---|',
    `| floor: \`ansible-playbook --list-tasks\` | ${fmt(m((r) => r.floor))} |`,
    `| stock walk: linear, every task skipped (\`when: false\`), so nothing runs | ${fmt(m((r) => r.walk))} |`,
    `| stock: linear into a plain container + one \`docker commit\` | ${fmt(m((r) => r.stock))} |`,
    `| strata cold (empty cache) | ${fmt(m((r) => r.cold))} |`,
    `| strata warm (nothing changed) | ${fmt(m((r) => r.warm))} |`,
    `| strata edit (last copied file changed) | ${fmt(m((r) => r.edit))} (of which the changed task ${fmt(m((r) => r.editTask))}) |`,
    `| Dockerfile cold / warm / edit | ${fmt(m((r) => r.dockerCold))} / ${fmt(m((r) => r.dockerWarm))} / ${fmt(m((r) => r.dockerEdit))} |`,
    '',
    '| ratio | median | target | met |',
    '|---|---|---|---|',
    ...ratios.map(([label, value, target]) => `| ${label} | ${fmt(value)} | ≤ ${target} | ${value <= target ? 'yes' : 'no'} |`),
    `| warm / stock walk (no target: how far a cached rebuild is from Ansible walking the playbook with nothing to do) | ${fmt(m((r) => r.warm / r.walk))} | | |`,
    `| edit / floor | ${fmt(m((r) => r.edit / r.floor))} | ≤ 1.5 + changed task / floor = ${fmt(1.5 + m((r) => r.editTask / r.floor))} | ${m((r) => r.edit / r.floor) <= 1.5 + m((r) => r.editTask / r.floor) ? 'yes' : 'no'} |`,
    `| engine lookup, ${lookup.entries} entries for the host | ${fmt(lookup.perLookupMs, 4)} ms (${Math.round(lookup.perSecond)}/s; index loaded in ${fmt(lookup.loadMs, 0)} ms) | < 1 ms | ${lookup.perLookupMs < 1 ? 'yes' : 'no'} |`,
    `| engine peak memory, 150-task build | ${fmt(memory / 2 ** 20, 0)} MB | < 150 MB | ${memory < 150 * 2 ** 20 ? 'yes' : 'no'} |`,
    ...scales.map((s) => {
      const own = Object.values(s.own).reduce((a, b) => a + b, 0);
      const perTask = (own / s.tasks) * 1000;
      return `| ${s.tasks} cached tasks (warm ${fmt(s.warm)} s, floor ${fmt(s.floor)} s, stock walk ${fmt(s.walk)} s, ${fmt(((s.warm - s.floor) / s.tasks) * 1000)} ms a task above the floor): strata's own cost per cached task | ${fmt(perTask)} ms | ≤ 2 ms | ${perTask <= 2 ? 'yes' : 'no'} |`;
    }),
    '',
    "Strata's own time in a warm build, per cached task, by part (the plugin's STRATA_PROFILE account; `engine` is the wait for the engine's replies, socket included). The rest of a task's time above the floor is Ansible's own: its strategy loop, variables and callbacks, paid as much by a stock run.",
    '',
    `| tasks | ${PROFILE_PARTS.join(' | ')} |`,
    `|---|${PROFILE_PARTS.map(() => '---').join('|')}|`,
    ...scales.map((s) => `| ${s.tasks} | ${PROFILE_PARTS.map((part) => `${fmt(((s.own[part] ?? 0) / s.tasks) * 1000, 3)} ms`).join(' | ')} |`),
    '',
  ].join('\n');
  process.stdout.write(table);
  mkdirSync(join(ROOT, 'bench'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results.md'), table);
  writeFileSync(join(ROOT, 'bench', 'results.svg'), chart(ratios));
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err.message}\n`);
  process.exitCode = 1;
});
