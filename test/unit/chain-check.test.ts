import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { extendsByOneTask } from '../../src/cache/chain-check';

describe('an entry proves its chain by its layers', () => {
  const parent = ['sha256:a', 'sha256:b'];

  it('when it is its parent plus one layer, or its parent alone (a task that changed no file)', () => {
    assert.ok(extendsByOneTask(parent, [...parent, 'sha256:c']));
    assert.ok(extendsByOneTask(parent, parent));
  });

  it('not when it lacks a parent layer, replaces one, or adds more than a task can', () => {
    assert.ok(!extendsByOneTask(parent, ['sha256:a']), 'committed straight from the base');
    assert.ok(!extendsByOneTask(parent, ['sha256:a', 'sha256:x', 'sha256:c']));
    assert.ok(!extendsByOneTask(parent, [...parent, 'sha256:c', 'sha256:d']));
  });
});
