// The hosts' cache indexes of an engine that serves build after build (the
// per-user engine, `strata serve`). A warm rebuild on it looks every task up
// in memory from its first task: the index its host had in the last build is
// kept, and kept true by following Docker's image events, instead of being
// listed again (a list of every image, which also takes Docker's CPU from the
// build). Without the events (they could not be watched, or their stream
// broke), each build reads its hosts' indexes afresh, as a private engine does.

import type Dockerode from 'dockerode';
import { EntryChange, HostIndex } from './host-index';
import { fingerprintOfTag } from './entries';
import { fullImageId } from '../docker/client';

/** One of Docker's (or Podman's) event messages, the fields read here. */
export interface ImageEvent {
  Action?: string;
  /** The action in Docker's older field. */
  status?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

const IMAGE_ID = /^(sha256:)?[0-9a-f]{64}$/;

/** Image actions that move no cache tag: `import` tags through a `tag` event of its own. */
const HARMLESS = new Set(['push', 'save', 'import']);

/** What an image event did to the cache's tags, for an index to follow. */
export function entryChangeOf(event: ImageEvent): EntryChange | undefined {
  const action = event.Action ?? event.status ?? '';
  const named = event.Actor?.ID ?? '';
  // Docker names the image `sha256:HEX`; Podman, `HEX` alone.
  const imageId = IMAGE_ID.test(named) ? fullImageId(named) : '';
  if (HARMLESS.has(action)) return undefined;
  if (action === 'tag') {
    const fingerprint = fingerprintOfTag(event.Actor?.Attributes?.name ?? '');
    // A tag in another repository cannot move one of the cache's.
    return fingerprint ? { kind: 'tagged', fingerprint, imageId } : undefined;
  }
  // Docker names the image, not the tag removed: every tag of it is forgotten.
  if ((action === 'untag' || action === 'delete') && imageId) return { kind: 'untagged', imageId };
  // `load` and `pull` set tags without a `tag` event; Podman names actions its own way.
  return { kind: 'unknown' };
}

export class HostIndexes {
  private readonly kept = new Map<string, HostIndex>();
  private watching: Promise<void> | undefined;
  private stream: NodeJS.ReadableStream | undefined;

  /** `keep`: whether builds follow one another on this engine, so an index is worth keeping. */
  constructor(
    private readonly docker: Dockerode,
    private readonly keep: boolean,
  ) {}

  /** The host's index: the one kept from an earlier build while the events say it is true, else one read now. */
  indexFor(host: string): { index: HostIndex; kept: boolean } {
    const kept = this.kept.get(host);
    if (kept?.keepable) return { index: kept, kept: true };
    if (!this.keep) return { index: new HostIndex(this.docker, host), kept: false };
    // The events are heard from before the list is read, so none falls between the two.
    const index = new HostIndex(this.docker, host, this.watch());
    this.kept.set(host, index);
    return { index, kept: false };
  }

  /** Stops following the events; for an engine that stops. */
  close(): void {
    this.stopWatching();
  }

  /** Settles once the events are followed, or could not be (then nothing is kept, and the list is read all the same). */
  private watch(): Promise<void> {
    this.watching ??= this.openStream().catch(() => this.stopWatching());
    return this.watching;
  }

  private async openStream(): Promise<void> {
    const stream = (await this.docker.getEvents({ filters: { type: ['image'] } } as Dockerode.GetEventsOptions)) as unknown as NodeJS.ReadableStream;
    this.stream = stream;
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) this.hear(line);
    });
    // What happens once nobody listens cannot be followed: the indexes forget
    // all they knew, and the next build reads its own.
    const lost = () => {
      if (this.stream !== stream) return;
      for (const index of this.kept.values()) index.follow({ kind: 'unknown' });
      this.stopWatching();
    };
    stream.on('end', lost);
    stream.on('close', lost);
    stream.on('error', lost);
  }

  private hear(line: string): void {
    let change: EntryChange | undefined;
    try {
      change = entryChangeOf(JSON.parse(line) as ImageEvent);
    } catch {
      change = { kind: 'unknown' };
    }
    if (change) for (const index of this.kept.values()) index.follow(change);
  }

  private stopWatching(): void {
    const stream = this.stream;
    this.kept.clear();
    this.watching = undefined;
    this.stream = undefined;
    (stream as unknown as { destroy?: () => void } | undefined)?.destroy?.();
  }
}
