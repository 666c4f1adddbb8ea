// The cache index an engine keeps between builds, following Docker's image
// events: what each event means for it, and that it only forgets or learns
// what Docker says, in the order Docker said it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type Dockerode from 'dockerode';
import { PassThrough } from 'node:stream';
import { entryChangeOf, HostIndexes } from '../../src/cache/image-events';
import { EntryChange, HostIndex } from '../../src/cache/host-index';

const fp = (c: string) => c.repeat(64);
const image = (c: string) => `sha256:${c.repeat(64)}`;

/** A Docker that lists the given tags (tag -> image ID) and inspects any image. */
function listing(tags: Record<string, string>): Dockerode {
  const images = Object.entries(tags).map(([tag, id]) => ({ Id: id, RepoTags: [tag], Labels: {} }));
  return {
    listImages: async () => images,
    getImage: (id: string) => ({ inspect: async () => ({ Id: id, RootFS: { Layers: [`layer-of-${id}`] } }) }),
  } as unknown as Dockerode;
}

async function indexOf(tags: Record<string, string>, after?: Promise<unknown>): Promise<HostIndex> {
  const index = new HostIndex(listing(tags), 'h', after);
  await index.ready;
  // The layers are read in the background, one inspection each.
  await new Promise((resolve) => setImmediate(resolve));
  return index;
}

describe('an image event, for the cache index', () => {
  it('is a tag moved when it tags a cache entry, and nothing when it tags another repository', () => {
    assert.deepEqual(entryChangeOf({ Action: 'tag', Actor: { ID: image('a'), Attributes: { name: `strata-cache:${fp('1')}` } } }), {
      kind: 'tagged',
      fingerprint: fp('1'),
      imageId: image('a'),
    });
    // Podman names local images with their registry.
    assert.equal(entryChangeOf({ status: 'tag', Actor: { ID: image('a'), Attributes: { name: `localhost/strata-cache:${fp('1')}` } } })?.kind, 'tagged');
    assert.equal(entryChangeOf({ Action: 'tag', Actor: { ID: image('a'), Attributes: { name: 'myapp:latest' } } }), undefined);
  });

  it("is every tag of an image gone when it is untagged or deleted (Docker does not say which tag)", () => {
    for (const Action of ['untag', 'delete']) {
      assert.deepEqual(entryChangeOf({ Action, Actor: { ID: image('b'), Attributes: { name: image('b') } } }), { kind: 'untagged', imageId: image('b') });
      // Podman's events name the image without the digest's algorithm.
      assert.deepEqual(entryChangeOf({ Action, Actor: { ID: 'b'.repeat(64), Attributes: { name: 'x' } } }), { kind: 'untagged', imageId: image('b') });
    }
  });

  it('is nothing for actions that move no tag, and unknown for those that set tags unseen or are not known', () => {
    for (const Action of ['push', 'save', 'import']) assert.equal(entryChangeOf({ Action, Actor: { ID: image('c') } }), undefined);
    for (const Action of ['load', 'pull', 'remove', 'something-new', '']) assert.deepEqual(entryChangeOf({ Action, Actor: { ID: image('c') } }), { kind: 'unknown' });
    assert.deepEqual(entryChangeOf({ Action: 'untag', Actor: { ID: 'not-an-id' } }), { kind: 'unknown' });
  });
});

describe('a host index following the events', () => {
  const tags = { [`strata-cache:${fp('1')}`]: image('a'), [`strata-cache:${fp('2')}`]: image('a'), [`strata-cache:${fp('3')}`]: image('b') };

  it('forgets every entry of an image untagged, and only those', async () => {
    const index = await indexOf(tags);
    assert.equal(index.lookup(fp('1'))?.imageId, image('a'));
    index.follow({ kind: 'untagged', imageId: image('a') });
    assert.equal(index.lookup(fp('1')), undefined);
    assert.equal(index.lookup(fp('2')), undefined);
    assert.equal(index.lookup(fp('3'))?.imageId, image('b'));
  });

  it('keeps an entry tagged again on its own image (a hit marking it used), and forgets one moved to another', async () => {
    const index = await indexOf(tags);
    index.follow({ kind: 'tagged', fingerprint: fp('3'), imageId: image('b') });
    assert.equal(index.lookup(fp('3'))?.imageId, image('b'));
    index.follow({ kind: 'tagged', fingerprint: fp('1'), imageId: image('c') });
    assert.equal(index.lookup(fp('1')), undefined, 'the new image is asked of Docker, not guessed');
  });

  it('forgets everything on an event it cannot follow, and is not kept for another build', async () => {
    const index = await indexOf(tags);
    assert.equal(index.keepable, true);
    index.follow({ kind: 'unknown' });
    assert.equal(index.size, 0);
    assert.equal(index.keepable, false);
  });

  it('applies the events heard while its list was being read, once it is read', async () => {
    let listed!: () => void;
    const listing = new Promise<void>((resolve) => (listed = resolve));
    const index = new HostIndex(
      {
        listImages: async () => {
          await listing;
          return Object.entries(tags).map(([tag, id]) => ({ Id: id, RepoTags: [tag], Labels: {} }));
        },
        getImage: (id: string) => ({ inspect: async () => ({ Id: id, RootFS: { Layers: [] } }) }),
      } as unknown as Dockerode,
      'h',
    );
    index.follow({ kind: 'untagged', imageId: image('b') });
    listed();
    await index.ready;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(index.lookup(fp('3')), undefined);
    assert.equal(index.lookup(fp('1'))?.imageId, image('a'));
  });

  it('remembers what Docker answered unless an event heard while it was asked may contradict it', async () => {
    const index = await indexOf({});
    const entry = { imageId: image('d'), labels: {}, layers: ['l'] };
    const contradictions: EntryChange[] = [
      { kind: 'tagged', fingerprint: fp('4'), imageId: image('e') },
      { kind: 'untagged', imageId: image('d') },
    ];
    for (const change of contradictions) {
      const asked = index.version;
      index.follow(change);
      index.remember(fp('4'), entry, asked);
      assert.equal(index.lookup(fp('4')), undefined, `the answer may predate ${JSON.stringify(change)}`);
    }
    const asked = index.version;
    index.follow({ kind: 'untagged', imageId: image('e') });
    index.follow({ kind: 'tagged', fingerprint: fp('5'), imageId: image('d') });
    index.remember(fp('4'), entry, asked);
    assert.equal(index.lookup(fp('4'))?.imageId, image('d'), 'events about other entries change nothing');
  });

  it("remembers an entry this engine committed, whichever side of the commit's reply its own tag event comes", async () => {
    const index = await indexOf({});
    const committed = (letter: string) => ({ imageId: image(letter), labels: {}, layers: ['l'] });
    let asked = index.version;
    index.follow({ kind: 'tagged', fingerprint: fp('6'), imageId: image('f') });
    index.remember(fp('6'), committed('f'), asked);
    assert.equal(index.lookup(fp('6'))?.imageId, image('f'), 'event before the reply');
    asked = index.version;
    index.remember(fp('7'), committed('g'), asked);
    index.follow({ kind: 'tagged', fingerprint: fp('7'), imageId: image('g') });
    assert.equal(index.lookup(fp('7'))?.imageId, image('g'), 'event after the reply');
  });

  it('does not remember an answer older than the changes it keeps', async () => {
    const index = await indexOf({});
    const asked = index.version;
    for (let i = 0; i < 100; i++) index.follow({ kind: 'untagged', imageId: image('z') });
    index.remember(fp('8'), { imageId: image('h'), labels: {}, layers: ['l'] }, asked);
    assert.equal(index.lookup(fp('8')), undefined);
  });
});

describe("an engine's host indexes", () => {
  /** A Docker whose image events are a stream this test writes, and whose list fails while `listFails` says so. */
  function watchedDocker(listFails: { now: boolean }) {
    const events = new PassThrough();
    let subscriptions = 0;
    const docker = {
      getEvents: async () => {
        subscriptions++;
        return events;
      },
      listImages: async () => {
        if (listFails.now) throw new Error('Docker is gone');
        return [{ Id: image('a'), RepoTags: [`strata-cache:${fp('1')}`], Labels: {} }];
      },
      getImage: (id: string) => ({ inspect: async () => ({ Id: id, RootFS: { Layers: [] } }) }),
    } as unknown as Dockerode;
    return { docker, events, subscriptions: () => subscriptions };
  }

  it("keep a host's index for the next build, which sees what the events said since", async () => {
    const { docker, events, subscriptions } = watchedDocker({ now: false });
    const indexes = new HostIndexes(docker, true);
    const first = indexes.indexFor('h');
    assert.equal(first.kept, false);
    await first.index.ready;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(first.index.lookup(fp('1'))?.imageId, image('a'));
    events.write(JSON.stringify({ Type: 'image', Action: 'delete', Actor: { ID: image('a') } }) + '\n');
    await new Promise((resolve) => setImmediate(resolve));
    const second = indexes.indexFor('h');
    assert.equal(second.kept, true);
    assert.equal(second.index.lookup(fp('1')), undefined);
    assert.equal(subscriptions(), 1);
    indexes.close();
  });

  it('keep nothing once the event stream ends, nor an index whose list could not be read', async () => {
    const listFails = { now: true };
    const { docker, events } = watchedDocker(listFails);
    const indexes = new HostIndexes(docker, true);
    await indexes.indexFor('h').index.ready;
    listFails.now = false;
    const retried = indexes.indexFor('h');
    assert.equal(retried.kept, false, 'an unreadable index is read again');
    await retried.index.ready;
    assert.equal(indexes.indexFor('h').kept, true);
    events.end();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(indexes.indexFor('h').kept, false, 'without the events, the next build reads afresh');
    indexes.close();
  });

  it('are read afresh by the build after an event they could not follow (a `docker load`)', async () => {
    const { docker, events } = watchedDocker({ now: false });
    const indexes = new HostIndexes(docker, true);
    await indexes.indexFor('h').index.ready;
    events.write(JSON.stringify({ Action: 'load', Actor: { ID: image('a') } }) + '\n');
    await new Promise((resolve) => setImmediate(resolve));
    const next = indexes.indexFor('h');
    assert.equal(next.kept, false);
    await next.index.ready;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(next.index.lookup(fp('1'))?.imageId, image('a'), 'the list read again knows the entries');
    indexes.close();
  });

  it('are never kept by a private engine', () => {
    const { docker } = watchedDocker({ now: false });
    const indexes = new HostIndexes(docker, false);
    indexes.indexFor('h');
    assert.equal(indexes.indexFor('h').kept, false);
  });
});
