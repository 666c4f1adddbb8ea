// The decoder against thousands of random and mutated frames: it must either
// return a request that passes validation or throw a bad_frame StrataError,
// never anything else, and never hang.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeRequest, encodeValue } from '../../src/protocol/codec';
import { StrataError } from '../../src/protocol/frames';
import { packValue } from '../../src/cache/stored-value';

const VALID = [
  { id: 1, type: 'hello', protocol: 2, client: 'fuzz' },
  { id: 2, type: 'open_host', host: 'web', base: 'strata-base:bookworm', tags: ['a/b:c'], config: { cmd: ['x'] }, push: false, squash: false, python: { use: 'auto', interpreter: '/usr/bin/python3' } },
  { id: 6, type: 'scratch_files', host: 'web', files: { python: '#!/bin/sh' } },
  { id: 3, type: 'task', host: 'web', label: 'copy', inputs: { args: { a: [1, 2, { b: 'c' }] } }, lookup: true, cacheable: true, invalidates: false, secret: false },
  { id: 4, type: 'task_done', host: 'web', outcome: 'commit', result: packValue({ changed: true, results: [{ item: 1 }] }) },
  { id: 5, type: 'finish_host', host: 'web' },
].map((f) => Buffer.from(encodeValue(f)));

// A tiny deterministic generator, so a failure can be replayed.
function generator(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function mutate(frame: Buffer, random: () => number): Buffer {
  const out = Buffer.from(frame);
  const edits = 1 + Math.floor(random() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * out.length);
    switch (Math.floor(random() * 4)) {
      case 0:
        out[at] = Math.floor(random() * 256);
        break;
      case 1:
        out[at] ^= 1 << Math.floor(random() * 8);
        break;
      case 2:
        return out.subarray(0, at); // truncated
      default:
        return Buffer.concat([out.subarray(0, at), randomBytes(1 + Math.floor(random() * 8)), out.subarray(at)]);
    }
  }
  return out;
}

function decodesSafely(bytes: Buffer): void {
  try {
    const req = decodeRequest(bytes);
    assert.equal(typeof req.type, 'string');
    assert.ok(Number.isInteger(req.id));
  } catch (err) {
    assert.ok(err instanceof StrataError, `threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
    assert.equal(err.code, 'bad_frame');
  }
}

describe('the frame decoder under fuzzing', () => {
  it('survives 5,000 mutated valid frames', () => {
    const random = generator(42);
    for (let i = 0; i < 5000; i++) decodesSafely(mutate(VALID[i % VALID.length], random));
  });

  it('survives 5,000 random byte strings', () => {
    const random = generator(7);
    for (let i = 0; i < 5000; i++) {
      const length = Math.floor(random() * 64);
      decodesSafely(Buffer.from(Array.from({ length }, () => Math.floor(random() * 256))));
    }
  });

  it('still decodes the valid frames', () => {
    for (const frame of VALID) assert.doesNotThrow(() => decodeRequest(frame));
  });
});
