// `strata stop` signals a process only once it has proven it is this user's
// engine: a runtime directory or pid file that others could have written is
// refused, and a pid file whose process is not the engine that wrote it (its
// number reused) is removed without a signal. No Docker is needed: an
// engine listens without it.

import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { eventually, strata, STRATA } from './harness';

const made: string[] = [];
const bystanders: ChildProcess[] = [];
after(() => {
  bystanders.forEach((p) => p.kill('SIGKILL'));
  made.forEach((dir) => rmSync(dir, { recursive: true, force: true }));
});

/** A runtime directory of its own, with strata's engine directory in it (mode 0700). */
function runtime(): { env: Record<string, string>; engines: string } {
  const dir = mkdtempSync(join(tmpdir(), 'strata-stop-'));
  made.push(dir);
  const engines = join(dir, 'strata');
  mkdirSync(engines, { mode: 0o700 });
  return { env: { XDG_RUNTIME_DIR: dir, DOCKER_HOST: 'unix:///nonexistent/docker.sock' }, engines };
}

/** A process of this user that is no engine: what a reused process ID names. */
function bystander(): ChildProcess {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  bystanders.push(child);
  return child;
}

/** Whether it still runs once this process has had time to hear of its end (it is this process's child). */
async function stillRuns(child: ChildProcess): Promise<boolean> {
  await new Promise((resolve) => setTimeout(resolve, 300));
  return child.exitCode === null && child.signalCode === null;
}

const PID_FILE = 'engine-0123456789abcdef.pid';

describe('strata stop', () => {
  it('stops an engine it proves is this user\'s', async () => {
    const { env, engines } = runtime();
    const pidFile = join(engines, PID_FILE);
    const engine = spawn('node', [STRATA, 'serve', '--listen', `unix:${join(engines, 'engine-0123456789abcdef.sock')}`, '--pid-file', pidFile], {
      stdio: 'ignore',
      env: { ...process.env, ...env },
    });
    bystanders.push(engine);
    assert.ok(await eventually(async () => existsSync(pidFile), 15), 'the engine wrote its pid file');
    const stop = strata(['stop'], env);
    assert.equal(stop.code, 0, stop.out);
    assert.match(stop.out, /stopped 1 engine/);
    assert.ok(await eventually(async () => engine.exitCode !== null || engine.signalCode !== null, 5), 'the engine exited');
    assert.equal(existsSync(pidFile), false, 'it removed its pid file');
  });

  it('leaves running a process a stale pid file names, and removes the file', async () => {
    const { env, engines } = runtime();
    const other = bystander();
    const pid = other.pid!;
    writeFileSync(join(engines, PID_FILE), `${pid}\n`, { mode: 0o600 });
    const stop = strata(['stop'], env);
    assert.equal(stop.code, 0, stop.out);
    assert.ok(await stillRuns(other), 'the process the stale file named still runs');
    assert.equal(existsSync(join(engines, PID_FILE)), false, 'the stale file is gone');
    assert.match(stop.out, new RegExp(`skipped ${PID_FILE}: process ${pid} is not the strata engine that wrote it: .*; removed the file`));
    assert.match(stop.out, /no strata engine was running/);
  });

  it('signals nothing from a directory others can write', async () => {
    const { env, engines } = runtime();
    chmodSync(engines, 0o777);
    const other = bystander();
    const pid = other.pid!;
    writeFileSync(join(engines, PID_FILE), `${pid}\n`, { mode: 0o600 });
    const stop = strata(['stop'], env);
    assert.equal(stop.code, 1, stop.out);
    assert.ok(await stillRuns(other));
    assert.match(stop.out, new RegExp(`${engines}, where strata keeps its engines' sockets, must belong to you and be closed to others \\(mode 0700\\): fix it with \`chmod 700 ${engines}\`, or remove it; nothing was stopped`));
  });

  it('signals nothing from a directory another user owns', { skip: process.getuid?.() !== 0 && 'only root can give a directory away' }, async () => {
    const { env, engines } = runtime();
    const other = bystander();
    const pid = other.pid!;
    writeFileSync(join(engines, PID_FILE), `${pid}\n`, { mode: 0o600 });
    chownSync(join(engines, PID_FILE), 65534, 65534);
    chownSync(engines, 65534, 65534);
    const stop = strata(['stop'], env);
    assert.equal(stop.code, 1, stop.out);
    assert.ok(await stillRuns(other), "root's process, named by another user's file, still runs");
    assert.match(stop.out, /must belong to you/);
  });

  it('skips a pid file others may write, saying why', async () => {
    const { env, engines } = runtime();
    const other = bystander();
    const pid = other.pid!;
    writeFileSync(join(engines, PID_FILE), `${pid}\n`);
    chmodSync(join(engines, PID_FILE), 0o666);
    const stop = strata(['stop'], env);
    assert.equal(stop.code, 0, stop.out);
    assert.ok(await stillRuns(other));
    assert.match(stop.out, new RegExp(`skipped ${PID_FILE}: .*must belong to you and be closed to others`));
  });
});
