import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRequest, encodeReply, encodeValue, decodeValue, salvageId } from '../../src/protocol/codec';
import { MAX_FRAME_BYTES, Reply, StrataError } from '../../src/protocol/frames';

function badFrame(bytes: Uint8Array, pattern: RegExp) {
  assert.throws(
    () => decodeRequest(bytes),
    (err: unknown) => err instanceof StrataError && err.code === 'bad_frame' && pattern.test(err.message),
  );
}

describe('decodeRequest', () => {
  it('accepts a well-formed hello', () => {
    const req = decodeRequest(encodeValue({ id: 1, type: 'hello', protocol: 1, client: 'test' }));
    assert.deepEqual(req, { id: 1, type: 'hello', protocol: 1, client: 'test' });
  });

  it('accepts a task with nested inputs and fills a missing result with null', () => {
    const task = { id: 7, type: 'task', host: 'web', label: 'copy', inputs: { args: { a: [1, 'x'] } }, lookup: true, cacheable: true, invalidates: false, secret: false };
    assert.deepEqual(decodeRequest(encodeValue(task)), task);
    const done = decodeRequest(encodeValue({ id: 8, type: 'task_done', host: 'web', outcome: 'skip' }));
    assert.equal((done as { result: unknown }).result, null);
  });

  it('refuses bytes that are not msgpack', () => badFrame(Buffer.from([0xc1]), /not msgpack/));
  it('refuses a frame that is not a map', () => badFrame(encodeValue([1, 2, 3]), /must be a msgpack map/));
  it('refuses a frame without an integer id', () => badFrame(encodeValue({ type: 'hello' }), /"id"/));
  it('refuses an unknown request type, naming the known ones', () =>
    badFrame(encodeValue({ id: 1, type: 'rm -rf' }), /unknown request type "rm -rf"; known: hello/));
  it('refuses a field of the wrong type', () =>
    badFrame(encodeValue({ id: 1, type: 'hello', protocol: '1', client: 'x' }), /"protocol" of "hello" must be int/));
  it("accepts a task's digest and expected hit as text or nothing, and refuses anything else", () => {
    const task = { id: 7, type: 'task', host: 'web', label: 'copy', inputs: {}, lookup: true, cacheable: true, invalidates: false, secret: false };
    assert.deepEqual(decodeRequest(encodeValue({ ...task, digest: 'ab12', expect: null })), { ...task, digest: 'ab12', expect: null });
    badFrame(encodeValue({ ...task, digest: 12 }), /"digest" of "task" must be string\?/);
    badFrame(encodeValue({ ...task, expect: ['ab'] }), /"expect" of "task" must be string\?/);
  });
  it('refuses an unknown task_done outcome', () =>
    badFrame(encodeValue({ id: 1, type: 'task_done', host: 'h', outcome: 'keep', result: null }), /outcome must be one of/));
  it('refuses a frame over the size limit', () => badFrame(new Uint8Array(MAX_FRAME_BYTES + 1), /over the/));
  it("accepts a hello's purpose as build, exec or nothing, and refuses any other", () => {
    const hello = { id: 1, type: 'hello', protocol: 6, client: 'test' };
    assert.deepEqual(decodeRequest(encodeValue({ ...hello, purpose: 'exec' })), { ...hello, purpose: 'exec' });
    assert.deepEqual(decodeRequest(encodeValue({ ...hello, purpose: null })), { ...hello, purpose: null });
    badFrame(encodeValue({ ...hello, purpose: 'admin' }), /hello purpose must be one of build, exec/);
  });
  it("accepts an exec with binary stdin, and refuses text stdin or no program", () => {
    const exec = { id: 2, type: 'exec', container: 'c', command: ['/bin/sh', '-c', 'id'], user: null, stdin: new Uint8Array([1, 2]) };
    const decoded = decodeRequest(encodeValue(exec)) as unknown as typeof exec;
    assert.deepEqual([...decoded.stdin], [1, 2]);
    assert.deepEqual(decoded.command, exec.command);
    badFrame(encodeValue({ ...exec, stdin: 'text' }), /"stdin" of "exec" must be bytes/);
    badFrame(encodeValue({ ...exec, command: [] }), /exec command must name a program/);
  });
});

describe('salvageId', () => {
  it('reads the id of a frame that failed validation', () => assert.equal(salvageId(encodeValue({ id: 42, type: 'nope' })), 42));
  it('gives 0 for garbage', () => assert.equal(salvageId(Buffer.from([0xc1, 0x00])), 0));
});

describe('replies', () => {
  it('round-trip through msgpack', () => {
    const reply = { id: 3, type: 'error' as const, code: 'state' as const, message: 'no task running' };
    assert.deepEqual(decodeValue(Buffer.concat(encodeReply(reply))), reply);
  });

  it('carry a long stored result as a piece of its own, the same buffer, not a copy, in one msgpack map', () => {
    const result = Buffer.alloc(200_000, 7);
    const stdout = Buffer.alloc(100_000, 8);
    const reply = { id: 4, type: 'ok' as const, outcome: 'hit' as const, fingerprint: 'f', result, saved_seconds: 1.5, ahead: [], other: stdout, after: 'x' };
    const pieces = encodeReply(reply as unknown as Reply);
    assert.ok(pieces.includes(result) && pieces.includes(stdout), 'the long values are pieces of their own');
    assert.deepEqual(decodeValue(Buffer.concat(pieces)), reply);
  });
});
