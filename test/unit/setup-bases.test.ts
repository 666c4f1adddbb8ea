// `make setup`'s bases (scripts/setup-bare-bases.sh), run against a stand-in
// `docker` that says which images exist and records every call: the bases
// the tests need are made under strata's own names, never under a name a
// registry gives another image (which would shadow the real one).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { PACKAGE_ROOT } from '../../src/engine/version';

const bin = mkdtempSync(join(tmpdir(), 'strata-fake-docker-'));
after(() => rmSync(bin, { recursive: true, force: true }));

/** Runs the script with a `docker` that has the images `have` and runs every other command well. */
function setupWith(have: string[]): string[] {
  const log = join(bin, 'calls');
  writeFileSync(log, '');
  writeFileSync(
    join(bin, 'docker'),
    `#!/bin/sh\necho "$*" >> ${log}\n` +
      `if [ "$1 $2" = "image inspect" ]; then case " ${have.join(' ')} " in *" $3 "*) exit 0;; *) exit 1;; esac; fi\n` +
      'if [ "$1" = inspect ]; then echo 0; fi\nexit 0\n',
  );
  chmodSync(join(bin, 'docker'), 0o755);
  const run = spawnSync('bash', [join(PACKAGE_ROOT, 'scripts', 'setup-bare-bases.sh'), 'strata-base:bookworm'], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  assert.equal(run.status, 0, run.stderr);
  return readFileSync(log, 'utf8').split('\n').filter(Boolean);
}

describe('the bases make setup builds', () => {
  it('never take the name of a published image', () => {
    for (const have of [[], ['strata-base:bookworm-slim', 'strata-base:busybox', 'strata-base:static']]) {
      const named = setupWith(have).filter((call) => /^(tag|import)\b/.test(call) || / import /.test(call));
      assert.deepEqual(named.filter((call) => /debian:/.test(call)), [], named.join('\n'));
    }
  });

  it('are made only when Docker lacks them', () => {
    const calls = setupWith(['strata-base:bookworm-slim', 'strata-base:busybox', 'strata-base:static']);
    assert.deepEqual(calls.filter((call) => !call.startsWith('image inspect')), []);
  });
});
