// The engine's side of a build container's exec agent: its request frames,
// and replies cut out of the container's output however Docker chunks it.
// (test/python/test_exec_agent.py runs the agent itself.)

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { ExecAgent, ReplyReader, requestFrame } from '../../src/docker/exec-agent';
import type { CommandRun } from '../../src/docker/exec';
import { StrataError } from '../../src/protocol/frames';

function replyFrame(id: number, exitCode: number, stdout: Buffer, stderr: Buffer): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32BE(id, 0);
  head.writeInt32BE(exitCode, 4);
  head.writeUInt32BE(stdout.length, 8);
  head.writeUInt32BE(stderr.length, 12);
  return Buffer.concat([head, stdout, stderr]);
}

/** The ids of the request frames in what an agent wrote. */
function requestIds(written: Buffer): number[] {
  const ids: number[] = [];
  for (let at = 0; at < written.length; at += 12 + written.readUInt32BE(at + 4) + written.readUInt32BE(at + 8)) ids.push(written.readUInt32BE(at));
  return ids;
}

function collect(): { reader: ReplyReader; got: Array<[number, CommandRun]> } {
  const got: Array<[number, CommandRun]> = [];
  return { reader: new ReplyReader((id, run) => got.push([id, run])), got };
}

describe('exec agent frames', () => {
  it('a request carries its id, a JSON header with the command and user, and the stdin bytes', () => {
    const frame = requestFrame(9, ['sh', '-c', 'cat'], 'app', Buffer.from([0, 255, 10]));
    const headerLength = frame.readUInt32BE(4);
    assert.equal(frame.readUInt32BE(0), 9);
    assert.equal(frame.readUInt32BE(8), 3);
    assert.deepEqual(JSON.parse(frame.subarray(12, 12 + headerLength).toString('utf8')), { argv: ['sh', '-c', 'cat'], user: 'app' });
    assert.deepEqual([...frame.subarray(12 + headerLength)], [0, 255, 10]);
  });

  it('replies are cut out whole when they arrive a byte at a time', () => {
    const { reader, got } = collect();
    for (const byte of replyFrame(4, -1, Buffer.from('out'), Buffer.from('err'))) reader.push(Buffer.from([byte]));
    assert.equal(got.length, 1);
    assert.deepEqual(got[0], [4, { exitCode: -1, stdout: Buffer.from('out'), stderr: Buffer.from('err') }]);
  });

  it('several replies in one chunk, and one spread over many, each come out once and in order', () => {
    const { reader, got } = collect();
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    const stream = Buffer.concat([replyFrame(1, 0, Buffer.alloc(0), Buffer.alloc(0)), replyFrame(2, 3, Buffer.from('x'), Buffer.alloc(0)), replyFrame(3, 0, big, Buffer.from('e'))]);
    for (let at = 0; at < stream.length; at += 65536) reader.push(stream.subarray(at, at + 65536));
    assert.deepEqual(got.map(([id, run]) => [id, run.exitCode, run.stdout.length, run.stderr.toString()]), [
      [1, 0, 0, ''],
      [2, 3, 1, ''],
      [3, 0, big.length, 'e'],
    ]);
    assert.ok(got[2][1].stdout.equals(big));
  });
});

describe('exec agent', () => {
  it('settles each command with the reply that names it, whatever their order', async () => {
    const stdin = new PassThrough();
    const agent = new ExecAgent(stdin, 'strata-build-x');
    const first = agent.run(['sleep', '1'], null, new Uint8Array());
    const second = agent.run(['true'], '0', new Uint8Array());
    assert.deepEqual(requestIds(stdin.read() as Buffer), [1, 2]);
    agent.replies.push(replyFrame(2, 0, Buffer.from('second'), Buffer.alloc(0)));
    agent.replies.push(replyFrame(1, 1, Buffer.from('first'), Buffer.alloc(0)));
    assert.equal((await second).stdout.toString(), 'second');
    assert.equal((await first).exitCode, 1);
  });

  it('fails what is still running, and what comes after, once the container is gone', async () => {
    const agent = new ExecAgent(new PassThrough(), 'strata-build-x');
    const running = agent.run(['sleep', '9'], null, new Uint8Array());
    agent.end('stopped: out of memory');
    const isGone = (err: unknown) => err instanceof StrataError && err.code === 'docker_error' && /strata-build-x stopped: out of memory/.test(err.message);
    await assert.rejects(running, isGone);
    await assert.rejects(agent.run(['true'], null, new Uint8Array()), isGone);
  });
});
