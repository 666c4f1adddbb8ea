// How often a cache entry is marked used: once per USE_MARK_PRECISION_MS, whatever the number of hits.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { USE_MARK_PRECISION_MS, UseMarks } from '../../src/cache/entry-store';

describe('marking cache entries used', () => {
  it('marks an entry the first time, not again within the precision, and again after it', () => {
    const marks = new UseMarks();
    assert.equal(marks.due('aa', 1_000), true);
    assert.equal(marks.due('aa', 1_000 + USE_MARK_PRECISION_MS - 1), false);
    assert.equal(marks.due('bb', 2_000), true, 'each entry counts on its own');
    assert.equal(marks.due('aa', 1_000 + USE_MARK_PRECISION_MS), true);
  });
});
