// No stale layer: for each class of input that decides what a task does,
// build, change one input, rebuild, and compare the image with one built
// with STRATA_NO_CACHE=1 (which runs every task, so it is right by
// construction). And no needless miss: a change that cannot alter what runs
// in the container gives a hit, with what is replayed still as the live
// task says.

import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BASE_IMAGE, copyProject, playbook, removeImages, Run, runInImage, strata, strataLines, unique, writeInventory } from './harness';

const made: { tags: string[]; hosts: string[] } = { tags: [], hosts: [] };

after(() => removeImages(made.tags, made.hosts));

interface Probe {
  dir: string;
  host: string;
  /** Builds with extra args, tagging the image `tag`. */
  build: (tag: string, env?: Record<string, string>, args?: string[]) => Run;
  edit: (relative: string, from: string | RegExp, to: string) => void;
  /** Rewrites the inventory with more host vars. */
  hostVars: (vars: Record<string, unknown>) => void;
}

/** A copy of the conformance case 'code' (its plugins, collection and files) whose site.yml is `tasks` on one fresh image host. */
function probe(tasks: string, hostVars: Record<string, unknown> = {}, handlers = ''): Probe {
  const dir = copyProject('test/conformance/code');
  const host = unique('probe');
  const inventory = (vars: Record<string, unknown>) => writeInventory(dir, { images: { [host]: { strata_from: BASE_IMAGE, ...vars } } });
  inventory(hostVars);
  const play = `- hosts: all\n  gather_facts: false\n  tasks:\n${indent(tasks)}\n${handlers ? `  handlers:\n${indent(handlers)}\n` : ''}`;
  writeFileSync(join(dir, 'site.yml'), play);
  made.hosts.push(host);
  return {
    dir,
    host,
    build: (tag, env = {}, args = []) => {
      made.tags.push(tag);
      return playbook(dir, ['-e', `strata_image=${tag}`, ...args], env);
    },
    edit: (relative, from, to) => {
      const path = join(dir, relative);
      const text = readFileSync(path, 'utf8');
      const edited = text.replace(from, to);
      assert.notEqual(edited, text, `${relative} has no ${from}`);
      writeFileSync(path, edited);
    },
    hostVars: (vars) => inventory({ ...hostVars, ...vars }),
  };
}

function indent(yaml: string): string {
  return yaml
    .trim()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

function ok(run: Run): Run {
  assert.equal(run.code, 0, run.out);
  return run;
}

/** Every path under /probe with its mode, and each file's content. */
const SHOW = ['sh', '-c', 'cd /probe && find . | sort | while read -r f; do echo "== $f $(stat -c %a "$f")"; [ -f "$f" ] && cat "$f"; done; true'];

/**
 * Builds, lets `change` change one input, then builds from the cache and
 * with STRATA_NO_CACHE=1: both must agree (exit status, and /probe's files).
 * `strata explain` must name the input as the reason the rebuild missed, when `explained` says how.
 * Returns the cached rebuild's run.
 */
function rebuildAgreesWithNoCache(p: Probe, change: () => void, explained?: RegExp): Run {
  const first = ok(p.build(unique('strata-e2e/probe')));
  assert.doesNotMatch(first.out, /not cached/, 'every task of a probe can be cached');
  change();
  const cachedTag = unique('strata-e2e/probe');
  const cached = p.build(cachedTag);
  if (explained) {
    const why = strata(['explain', p.host]);
    assert.match(why.out, explained, why.out);
  }
  const freshTag = unique('strata-e2e/probe');
  const fresh = p.build(freshTag, { STRATA_NO_CACHE: '1' });
  assert.equal(cached.code, fresh.code, `from the cache: exit ${cached.code}, without it: exit ${fresh.code}\n${cached.out}\n${fresh.out}`);
  if (fresh.code === 0) assert.equal(runInImage(cachedTag, SHOW), runInImage(freshTag, SHOW), cached.out);
  return cached;
}

const lines = (p: Probe, run: Run) => strataLines(run.out, p.host).map((l) => l.split(',')[0]);

describe('the code that runs', () => {
  it('a module_utils file a playbook module imports', () => {
    const p = probe('- probe_say: { dest: /probe/said }\n', {}, '');
    prepare(p);
    rebuildAgreesWithNoCache(p, () => p.edit('module_utils/probe_words.py', 'first', 'second'), /- the module's code \(or a module_utils file it imports\) changed/);
  });

  it('a playbook action plugin', () => {
    const p = probe('- probe_stamp: { dest: /probe/stamp }');
    prepare(p);
    rebuildAgreesWithNoCache(p, () => p.edit('action_plugins/probe_stamp.py', "STAMP = 'first'", "STAMP = 'second'"), /- the action plugin's code changed/);
  });

  it("a collection's module_utils", () => {
    const p = probe('- probe.kit.say: { dest: /probe/said }');
    prepare(p);
    rebuildAgreesWithNoCache(p, () => p.edit('collections/ansible_collections/probe/kit/plugins/module_utils/words.py', 'first', 'second'), /- the module's code \(or a module_utils file it imports\) changed/);
  });

  it("what a collection's action plugin imports", () => {
    const p = probe('- probe.kit.copy_note: { src: note.txt, dest: /probe/note }');
    prepare(p);
    rebuildAgreesWithNoCache(p, () => p.edit('collections/ansible_collections/probe/kit/plugins/plugin_utils/decorate.py', "'['", "'<'"), /- the action plugin's code changed/);
  });
});

describe('controller files an action plugin reads', () => {
  it("a file a collection's action plugin finds in files/", () => {
    const p = probe('- probe.kit.copy_note: { src: note.txt, dest: /probe/note }');
    prepare(p);
    rebuildAgreesWithNoCache(p, () => p.edit('files/note.txt', 'first', 'second'), /- file src \S*note\.txt: content changed/);
  });
});

describe('ansible.posix.synchronize', () => {
  it('copies into the build container, and its src tree counts', () => {
    // rsync runs at both ends; the base image has none.
    const p = probe('- apt: { name: rsync, update_cache: true }\n- ansible.posix.synchronize: { src: glob/, dest: /probe/synced/ }');
    prepare(p);
    rebuildAgreesWithNoCache(p, () => writeFileSync(join(p.dir, 'files/glob/b.conf'), 'edited\n'), /- file src \S*b\.conf: content changed/);
  });
});

describe('how the task runs', () => {
  it('the Python interpreter (gathered facts name it)', () => {
    const p = probe('- setup:\n    gather_subset: [min]\n- copy: { content: "{{ ansible_python.executable }}", dest: /probe/python }');
    prepare(p);
    rebuildAgreesWithNoCache(p, () => p.hostVars({ ansible_python_interpreter: '/usr/bin/python3.11' }), /- the interpreter changed/);
  });

  it('the shell executable raw runs under', () => {
    const p = probe('- raw: echo "${BASH_VERSION:+bash}" > /probe/shell');
    prepare(p);
    rebuildAgreesWithNoCache(p, () => p.hostVars({ ansible_shell_executable: '/bin/bash' }), /- the shell or its executable changed/);
  });

  it('become flags', () => {
    const p = probe('- shell: pwd > /probe/where\n  become: true\n  become_method: su');
    prepare(p);
    rebuildAgreesWithNoCache(p, () => p.hostVars({ ansible_become_flags: '-l' }), /- become changed/);
  });
});

const COUNTING = `- shell: n=$(cat /probe/n 2>/dev/null || echo 0); echo $((n + 1)) > /probe/n; cat /probe/n
  register: counted
  until: counted.stdout | int >= wanted
  retries: RETRIES
  delay: 0`;

describe('when a retried task stops', () => {
  it('a variable until reads', () => {
    const p = probe(COUNTING.replace('RETRIES', '5'), { wanted: 2 });
    prepare(p);
    rebuildAgreesWithNoCache(p, () => p.hostVars({ wanted: 3 }), /- until, retries or delay \(or a variable until reads\) changed/);
  });

  it('retries', () => {
    const p = probe(COUNTING.replace('RETRIES', '5'), { wanted: 3 });
    prepare(p);
    // The changed task fails, so nothing is committed for `strata explain` to compare.
    const run = rebuildAgreesWithNoCache(p, () => p.edit('site.yml', 'retries: 5', 'retries: 1'));
    assert.notEqual(run.code, 0, 'two attempts cannot count to three');
  });
});

describe('no needless miss', () => {
  it('a loop using ansible_loop.allitems is cached', () => {
    const p = probe(`- copy:
    content: "{{ ansible_loop.allitems | join(',') }}"
    dest: /probe/{{ item }}
  loop: [a, b]
  loop_control: { extended: true }`);
    prepare(p);
    const run = rebuildAgreesWithNoCache(p, () => undefined);
    assert.deepEqual(lines(p, run).slice(-1), ['cached']);
    assert.doesNotMatch(run.out, /not cached/);
  });

  it('unarchive with copy: false is cached', () => {
    const p = probe('- shell: tar czf /probe.tgz -C /etc hostname\n- unarchive: { src: /probe.tgz, dest: /probe, copy: false }');
    prepare(p);
    const run = rebuildAgreesWithNoCache(p, () => undefined);
    assert.deepEqual(lines(p, run).slice(-2), ['cached', 'cached']);
  });

  it('a chmod of a copied file is cached, and the copy is as without the cache', () => {
    const p = probe('- copy: { src: note.txt, dest: /probe/note }');
    prepare(p);
    const run = rebuildAgreesWithNoCache(p, () => chmodSync(join(p.dir, 'files/note.txt'), 0o755));
    assert.deepEqual(lines(p, run).slice(-1), ['cached']);
  });

  it('with_fileglob items listed in another order are cached', () => {
    // tmpfs lists a directory newest first, so the same files made in another order list in another order.
    const shm = join('/dev/shm', unique('strata-glob'));
    const p = probe('- copy: { src: "{{ item }}", dest: /probe/ }\n  with_fileglob: ["glob/*.conf"]');
    try {
      mkdirSync(shm);
      const checkout = (order: string[]) => {
        rmSync(join(shm, 'glob'), { recursive: true, force: true });
        mkdirSync(join(shm, 'glob'));
        for (const name of order) writeFileSync(join(shm, 'glob', `${name}.conf`), `${name}\n`);
        rmSync(join(p.dir, 'files/glob'), { recursive: true, force: true });
      };
      // Glob in the tmpfs itself: the project's own dir may be on any filesystem.
      p.edit('site.yml', '"glob/*.conf"', `"${shm}/glob/*.conf"`);
      prepare(p);
      checkout(['a', 'b', 'c']);
      const run = rebuildAgreesWithNoCache(p, () => checkout(['c', 'b', 'a']));
      assert.deepEqual(lines(p, run).slice(-1), ['cached']);
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  });

  it('notify and changed_when are the live task\'s on a hit', () => {
    const p = probe(
      '- copy: { content: x, dest: /probe/x }\n  changed_when: false\n  notify: first',
      {},
      '- name: first\n  copy: { content: first, dest: /probe/handler }\n- name: second\n  copy: { content: second, dest: /probe/handler }',
    );
    prepare(p);
    const run = rebuildAgreesWithNoCache(p, () => {
      p.edit('site.yml', 'changed_when: false', 'changed_when: true');
      p.edit('site.yml', 'notify: first', 'notify: second');
    });
    assert.equal(lines(p, run)[1], 'cached', run.out);
    assert.match(run.out, /RUNNING HANDLER \[second\]/);
  });
});

describe('a task strata cannot describe', () => {
  it('says so at the default verbosity, runs, and is not cached', () => {
    const p = probe('- copy: { content: "{{ not_defined_anywhere }}", dest: /probe/x }\n  ignore_errors: true');
    prepare(p);
    const run = ok(p.build(unique('strata-e2e/probe')));
    assert.match(run.out, new RegExp(`strata: \\[${p.host}\\] not cached: strata cannot work out what this task depends on \\(.*not_defined_anywhere`));
    assert.match(run.out, /ignoring/);
  });
});

describe('replay', () => {
  it('prints the live loop label and keeps each item\'s invocation', () => {
    const p = probe(`- copy: { content: "{{ item }}", dest: "/probe/{{ item }}" }
  loop: [a, b]
  loop_control: { label: "first {{ item }}" }
  register: copied
- copy:
    # ansible-core 2.21 and later keep no invocation in a registered loop item at all.
    content: "{{ copied.results[0].invocation.module_args.dest | default('no invocation') }}"
    dest: /probe/first-dest`);
    prepare(p);
    const run = rebuildAgreesWithNoCache(p, () => p.edit('site.yml', 'label: "first', 'label: "second'));
    assert.deepEqual(lines(p, run).slice(-2), ['cached', 'cached']);
    assert.match(run.out, /\(item=second a\)/);
    assert.doesNotMatch(run.out, /\(item=first a\)/);
  });
});

/** Every probe writes under /probe, which the base image lacks. */
function prepare(p: Probe): void {
  p.edit('site.yml', '  tasks:\n', '  tasks:\n    - file: { path: /probe, state: directory }\n');
}
