// scratch_files: what the plugin may ask the engine to put in every build
// container's scratch directory of a host.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRequest, encodeValue } from '../../src/protocol/codec';
import { checkScratchFiles } from '../../src/docker/containers';
import { ScratchFilesRequest, StrataError } from '../../src/protocol/frames';

const scratchFiles = { id: 3, type: 'scratch_files', host: 'web' };

describe('scratch files', () => {
  it('travel in their own frame as a map of name to text', () => {
    const req = decodeRequest(encodeValue({ ...scratchFiles, files: { python: '#!/bin/sh\nexec python3 "$@"\n' } }));
    assert.equal(req.type, 'scratch_files');
    assert.deepEqual(checkScratchFiles('web', (req as ScratchFilesRequest).files), {
      python: '#!/bin/sh\nexec python3 "$@"\n',
    });
  });

  it('are required: a scratch_files frame without them is a bad frame', () => {
    assert.throws(() => decodeRequest(encodeValue(scratchFiles)), (err: unknown) => err instanceof StrataError && err.code === 'bad_frame');
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
