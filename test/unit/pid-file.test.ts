// The engine's pid file: claimed only from an engine that no longer runs, released only by its own engine.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { claimPidFile, readPid, releasePidFile, statFields } from '../../src/cli/pid-file';

const pidFile = () => join(mkdtempSync(join(tmpdir(), 'strata-pid-')), 'engine.pid');
// A process ID no process has (above the kernel's pid_max).
const GONE = 4_194_305;

describe('an engine pid file', () => {
  it('is claimed when absent, or when it names a process that has exited', () => {
    const path = pidFile();
    claimPidFile(path);
    assert.equal(readPid(path), process.pid);
    writeFileSync(path, `${GONE}\n`);
    claimPidFile(path);
    assert.equal(readPid(path), process.pid);
  });

  it('is not taken from an engine that still runs', () => {
    const path = pidFile();
    writeFileSync(path, '1\n');
    assert.throws(() => claimPidFile(path), /names a running engine \(process 1\)/);
    assert.equal(readFileSync(path, 'utf8'), '1\n');
  });

  it('is released only by the engine it names', () => {
    const path = pidFile();
    writeFileSync(path, '1\n');
    releasePidFile(path);
    assert.equal(readPid(path), 1, "another engine's file stays");
    claimPidFile(join(path, '..', 'own.pid'));
    releasePidFile(join(path, '..', 'own.pid'));
    assert.equal(readPid(join(path, '..', 'own.pid')), undefined);
  });
});

describe("a process's start time", () => {
  it('is read after the command name, whatever that name holds', () => {
    const stat = '4242 (a) b (c)) S 1 4242 4242 0 -1 4194304 104 0 0 0 0 0 0 0 20 0 1 0 123698 3133440 415';
    assert.equal(statFields(stat)[0], 'S');
    assert.equal(statFields(stat)[19], '123698');
  });

  it('is what a claimed pid file records beside the process ID', () => {
    const path = pidFile();
    claimPidFile(path);
    const [pid, started] = readFileSync(path, 'utf8').trim().split('\n');
    assert.equal(Number(pid), process.pid);
    assert.equal(started, statFields(readFileSync('/proc/self/stat', 'utf8'))[19]);
  });
});
