import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { entryTag, fingerprintOfTag } from '../../src/cache/entries';

const FP = 'ab'.repeat(32);

describe('cache entry tags', () => {
  it('reads the fingerprint back from the tag an entry gets', () => {
    assert.equal(fingerprintOfTag(entryTag(FP)), FP);
  });

  it('reads the fully qualified names Podman lists', () => {
    assert.equal(fingerprintOfTag(`docker.io/library/strata-cache:${FP}`), FP);
    assert.equal(fingerprintOfTag(`localhost/strata-cache:${FP}`), FP);
  });

  it('ignores other repositories and tags that are no fingerprint', () => {
    assert.equal(fingerprintOfTag(`registry:5000/strata-cache:${FP}`), undefined);
    assert.equal(fingerprintOfTag(`my-strata-cache:${FP}`), undefined);
    assert.equal(fingerprintOfTag('strata-cache:latest'), undefined);
    assert.equal(fingerprintOfTag(`strata-cache:${FP}0`), undefined);
  });
});
