import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkBaseReference, checkImageTags } from '../../src/docker/reference';
import { StrataError } from '../../src/protocol/frames';

function badConfig(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (err: unknown) => err instanceof StrataError && err.code === 'bad_config' && pattern.test(err.message));
}

const GOOD_NAMES = ['web', 'shop/web:latest', 'localhost/a', 'localhost:5000/a/b:1.2', 'registry.example.com/team/app:v1.2_3', 'my-reg:5000/x', 'a__b/c-d.e:T'];
const BAD_NAMES = ['UPPER/case:tag', 'Shop/Web', 'shop/Web', 'web:', ':tag', 'web/', 'a//b', 'web:bad tag', 'x;rm -rf', '$(id)', ''];

describe('checkImageTags', () => {
  it('accepts registry, path and tag forms', () => assert.deepEqual(checkImageTags('web', GOOD_NAMES), GOOD_NAMES));
  for (const bad of BAD_NAMES) {
    it(`refuses ${JSON.stringify(bad)}, naming the variable, the value and the host`, () =>
      badConfig(() => checkImageTags('web', ['ok/one', bad]), new RegExp(`^strata_image ${JSON.stringify(bad).replace(/[$()[\]*+?.|\\]/g, '\\$&')} of host web is not a valid image name`)));
  }
  it('refuses a digest in a tag to give', () => badConfig(() => checkImageTags('web', [`shop/web@sha256:${'a'.repeat(64)}`]), /strata_image/));
});

describe('checkBaseReference', () => {
  const id = 'b'.repeat(64);
  for (const good of [...GOOD_NAMES, `debian@sha256:${id}`, `debian:bookworm@sha256:${id}`, `sha256:${id}`, id, id.slice(0, 12)]) {
    it(`accepts ${good}`, () => assert.equal(checkBaseReference('web', good), good));
  }
  for (const bad of ['not an image!', 'debian;rm -rf /', '$(id)', 'UPPER/case:tag', 'debian@sha256:short', '']) {
    it(`refuses ${JSON.stringify(bad)}, naming the variable, the value and the host`, () =>
      badConfig(() => checkBaseReference('db', bad), /^strata_from ".*" of host db is not an image reference or ID .* Fix the inventory\.$/));
  }
});
