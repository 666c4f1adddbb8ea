// open_host's scratch_files: what the plugin may ask the engine to put in
// every build container's scratch directory.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRequest, encodeValue } from '../../src/protocol/codec';
import { checkScratchFiles } from '../../src/docker/containers';
import { StrataError } from '../../src/protocol/frames';

const openHost = { id: 2, type: 'open_host', host: 'web', base: 'b', tags: [], config: null, push: false, squash: false };

describe('scratch files', () => {
  it('travel in open_host as a map of name to text', () => {
    const req = decodeRequest(encodeValue({ ...openHost, scratch_files: { python: '#!/bin/sh\nexec python3 "$@"\n' } }));
    assert.deepEqual(checkScratchFiles('web', (req as { scratch_files: Record<string, unknown> }).scratch_files), {
      python: '#!/bin/sh\nexec python3 "$@"\n',
    });
  });

  it('are required: an open_host without them is a bad frame', () => {
    assert.throws(() => decodeRequest(encodeValue(openHost)), (err: unknown) => err instanceof StrataError && err.code === 'bad_frame');
  });

  for (const [name, text] of [['../etc/passwd', 'x'], ['a b', 'x'], ['', 'x'], ['python', 42]] as const) {
    it(`refuse ${JSON.stringify(name)}: ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => checkScratchFiles('web', { [name]: text }),
        (err: unknown) => err instanceof StrataError && err.code === 'bad_frame' && /plain file name and text content/.test(err.message),
      );
    });
  }
});
