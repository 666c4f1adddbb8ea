import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CatalogEntry } from '../../src/cache/catalog';
import { entriesToPrune } from '../../src/cli/cache-commands';
import { humanAge, humanBytes, parseDuration } from '../../src/cli/format';

const NOW = Date.parse('2026-11-28T12:00:00Z');
const HOUR = 3600 * 1000;

function entry(host: string, position: number, hoursAgo: number): CatalogEntry {
  const at = new Date(NOW - hoursAgo * HOUR);
  return {
    fingerprint: `${host}-${position}-${hoursAgo}`,
    parent: '',
    host,
    position,
    task: 'copy',
    build: '',
    seconds: 1,
    imageId: 'sha256:x',
    tag: 'strata-cache:x',
    created: at,
    lastUsed: at,
    size: 0,
    layerBytes: 0,
  };
}

const entries = [entry('web', 0, 1), entry('web', 0, 30), entry('web', 0, 200), entry('web', 1, 1), entry('db', 0, 200)];
const names = (list: CatalogEntry[]) => list.map((e) => e.fingerprint).sort();

describe('entriesToPrune', () => {
  it('--older-than takes entries not used for that long', () => {
    assert.deepEqual(names(entriesToPrune(entries, { olderThanMs: 48 * HOUR }, NOW)), ['db-0-200', 'web-0-200']);
  });
  it('--keep-last keeps the most recently used entries at each host and position', () => {
    assert.deepEqual(names(entriesToPrune(entries, { keepLast: 1 }, NOW)), ['web-0-200', 'web-0-30']);
    assert.deepEqual(names(entriesToPrune(entries, { keepLast: 2 }, NOW)), ['web-0-200']);
  });
  it('--all takes everything, and no rule takes nothing', () => {
    assert.equal(entriesToPrune(entries, { all: true }, NOW).length, entries.length);
    assert.deepEqual(entriesToPrune(entries, {}, NOW), []);
  });
});

describe('format', () => {
  it('parses durations', () => {
    assert.equal(parseDuration('30m'), 30 * 60 * 1000);
    assert.equal(parseDuration('2w'), 14 * 24 * HOUR);
    assert.equal(parseDuration('soon'), undefined);
    assert.equal(parseDuration('5y'), undefined);
  });
  it('writes sizes and ages for people', () => {
    assert.equal(humanBytes(999), '999 B');
    assert.equal(humanBytes(124_100_000), '124.1 MB');
    assert.equal(humanAge(new Date(NOW - 90 * 1000), new Date(NOW)), '1 minute ago');
    assert.equal(humanAge(new Date(NOW - 3 * 24 * HOUR), new Date(NOW)), '3 days ago');
  });
});
