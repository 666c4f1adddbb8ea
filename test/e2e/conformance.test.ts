// The conformance suite: every case in test/conformance is run three ways,
// and the three must agree host by host: stock Ansible (the linear strategy
// against plain containers), strata with an empty cache, and strata again
// from the cache. Agreement: the same PLAY RECAP, the same task lines (ok,
// changed, skipping, failed, retrying) for each host, the same files (type,
// mode, owner, content) in the result, and the same values of the variables
// the case prints in its "conformance: vars" task, the same warnings and
// deprecations. The cached run starts no
// container unless the case says otherwise. Two cases run side by side (each
// its own hosts and images): a case's time is mostly waiting on Docker.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { safeName } from '../../src/docker/containers';
import {
  BASE_IMAGE,
  buildContainers,
  containersCreatedDuring,
  copyProject,
  ROOT,
  playbookInBackground,
  recap,
  removeImages,
  Run,
  unique,
} from './harness';

const CASES = join(ROOT, 'test', 'conformance');
const MANIFEST_SCRIPT = readFileSync(join(CASES, 'manifest.py'), 'utf8');

interface Case {
  hosts: Record<string, Record<string, unknown>>;
  /** Containers the cached run may start (a never-cached task needs one). */
  cached_containers?: number;
}

type Manifest = Record<string, unknown[]>;

interface Outcome {
  run: Run;
  manifests: Record<string, Manifest>;
}

/** A docker command's stdout; it runs without blocking the case beside. */
function docker(args: string[], input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(Buffer.concat(out).toString('utf8')) : reject(new Error(`docker ${args.join(' ')}: ${Buffer.concat(err).toString('utf8')}`)),
    );
    child.stdin.end(input);
  });
}

async function manifestOfContainer(container: string): Promise<Manifest> {
  return JSON.parse(await docker(['exec', '-i', container, 'python3', '-'], MANIFEST_SCRIPT));
}

async function manifestOfImage(image: string): Promise<Manifest> {
  return JSON.parse(await docker(['run', '--rm', '-i', '--user', 'root', '--entrypoint', 'python3', image, '-'], MANIFEST_SCRIPT));
}

async function manifestsOf(hosts: string[], manifestOf: (host: string) => Promise<Manifest>): Promise<Record<string, Manifest>> {
  return Object.fromEntries(await Promise.all(hosts.map(async (host) => [host, await manifestOf(host)])));
}

/** The values each host printed in the case's "conformance: vars" tasks, in order. */
function printedVars(out: string): Record<string, unknown[]> {
  const found: Record<string, unknown[]> = {};
  for (const section of out.split(/\nTASK \[conformance: vars\] \**\n/).slice(1)) {
    for (const match of section.matchAll(/^ok: \[([^\]]+)\] => (\{\n[\s\S]*?\n\})$/gm)) {
      (found[match[1]] ??= []).push(JSON.parse(match[2]));
    }
  }
  return found;
}

/**
 * What each host's task lines said, in order: ok, changed, skipping, failed,
 * fatal and FAILED - RETRYING, with any item, but without the JSON after
 * them (it holds timings) and without strata's own lines.
 */
function taskLines(out: string): Record<string, string[]> {
  const found: Record<string, string[]> = {};
  for (const line of out.split('\n')) {
    const match = /^(?:ok|changed|skipping|failed|fatal|FAILED - RETRYING): \[([^\]\s]+)/.exec(line);
    if (match) (found[match[1]] ??= []).push(line.replace(/ => \{.*$/, ''));
  }
  return found;
}

/**
 * The warnings and deprecations the run printed, first line of each, sorted
 * (hosts run side by side, so theirs come in any order); without the one
 * ansible-core 2.19+ prints for every third-party strategy (strata's own,
 * not the play's).
 */
function warnings(out: string): string[] {
  return out
    .split('\n')
    .filter((l) => /^\[(WARNING|DEPRECATION WARNING)\]: /.test(l))
    .filter((l) => !/strategy plugins not included in ansible\.builtin|^\[WARNING\]: Deprecation warnings can be disabled/.test(l))
    .sort();
}

/** Differences between two manifests, for a readable failure. */
function manifestDiff(a: Manifest, b: Manifest): string[] {
  const paths = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...paths]
    .filter((p) => JSON.stringify(a[p]) !== JSON.stringify(b[p]))
    .sort()
    .slice(0, 20)
    .map((p) => `${p}: ${JSON.stringify(a[p])} vs ${JSON.stringify(b[p])}`);
}

const caseNames = readdirSync(CASES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

describe('conformance', { concurrency: 2 }, () => {
  for (const name of caseNames) {
    describe(`conformance: ${name}`, { concurrency: 1 }, () => {
      const spec: Case = parse(readFileSync(join(CASES, name, 'case.yml'), 'utf8'));
      const hosts = Object.fromEntries(Object.entries(spec.hosts).map(([host, vars]) => [unique(`${name.replace(/_/g, '-')}-${host}`), vars]));
      const tagOf = (host: string) => `strata-e2e/${host}:latest`;
      let dir: string;
      let stock: Outcome;
      let cold: Outcome;
      let cached: Outcome;
      let cachedContainers = -1;

      function inventory(perHost: (host: string) => Record<string, unknown>): void {
        const entries = Object.entries(hosts).map(([host, vars]) => [host, { ...vars, ...perHost(host) }]);
        writeFileSync(join(dir, 'inventory.yml'), stringify({ all: { children: { images: { hosts: Object.fromEntries(entries) } } } }));
      }

      /** A strata build, and how many containers it started. */
      async function strataRun(): Promise<[Outcome, number]> {
        inventory((host) => ({ strata_from: BASE_IMAGE, strata_image: tagOf(host) }));
        let run!: Run;
        const containers = await containersCreatedDuring(async () => (run = await playbookInBackground(dir, ['--forks', '2'])), 'create', Object.keys(hosts));
        assert.equal(run.code, 0, run.out);
        return [{ run, manifests: await manifestsOf(Object.keys(hosts), (h) => manifestOfImage(tagOf(h))) }, containers];
      }

      before(() => {
        dir = copyProject(`test/conformance/${name}`);
      });

      after(async () => {
        await removeImages(Object.keys(hosts).map(tagOf), Object.keys(hosts));
      });

      it('runs with stock Ansible against plain containers', async () => {
        const containers = Object.fromEntries(Object.keys(hosts).map((h) => [h, `strata-stock-${h}`]));
        try {
          for (const [host, container] of Object.entries(containers)) {
            await docker(['run', '-d', '--name', container, '--hostname', safeName(host), BASE_IMAGE, 'sleep', 'infinity']);
          }
          // Pipelining as strata's connection always runs modules: it changes no
          // outcome here, and spares the stock run most of its docker execs.
          inventory((host) => ({ ansible_connection: 'community.docker.docker', ansible_host: containers[host], ansible_pipelining: true }));
          const run = await playbookInBackground(dir, ['--forks', '2'], {}, true);
          assert.equal(run.code, 0, run.out);
          assert.doesNotMatch(run.out, /^strata: /m, 'the stock run must not go through strata');
          stock = { run, manifests: await manifestsOf(Object.keys(hosts), (h) => manifestOfContainer(containers[h])) };
        } finally {
          await Promise.all(Object.values(containers).map((container) => docker(['rm', '-f', container]).catch(() => undefined)));
        }
      });

      it('builds with strata from an empty cache', async () => {
        [cold] = await strataRun();
      });

      it('rebuilds with strata from the cache', async () => {
        [cached, cachedContainers] = await strataRun();
        assert.deepEqual(await buildContainers(Object.keys(hosts)), []);
      });

      it('agrees: recap, task lines, files and variables, host by host', () => {
        assert.ok(stock && cold && cached, 'all three runs happened');
        for (const [label, other] of [['cold', cold], ['cached', cached]] as const) {
          assert.deepEqual(recap(other.run.out), recap(stock.run.out), `${label} recap`);
          assert.deepEqual(printedVars(other.run.out), printedVars(stock.run.out), `${label} variables`);
          assert.deepEqual(taskLines(other.run.out), taskLines(stock.run.out), `${label} task lines`);
          assert.deepEqual(warnings(other.run.out), warnings(stock.run.out), `${label} warnings`);
          for (const host of Object.keys(hosts)) {
            const diff = manifestDiff(stock.manifests[host], other.manifests[host]);
            assert.deepEqual(diff, [], `${label} files of ${host} differ from stock`);
          }
        }
        assert.ok(Object.keys(printedVars(stock.run.out)).length > 0, 'the case printed its variables');
        assert.equal(cachedContainers, spec.cached_containers ?? 0, 'containers started by the cached run');
      });
    });
  }
});
