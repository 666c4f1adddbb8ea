// What came after each link of a host's chain the last time a build passed
// it: the next task, known by the plugin's digest of its request, and the
// fingerprint the engine worked out for it. An engine
// that outlives its builds (the per-user engine, `strata serve`) keeps this,
// so a rebuild's hit can tell the plugin the hits that follow, and the
// plugin replays them without waiting for the engine's answer to each.
//
// It also remembers where a host's last finished build ended, so the chain
// of an edit that rebuilds the last task does not start a container for a
// next task that, last time, did not come.
//
// Nothing here decides a hit: the chain looks each one up and checks the
// plugin's task when it arrives (host-chain.ts).

export interface NextTask {
  /** The plugin's digest of the request (host, label, inputs, flags). */
  digest: string;
  /**
   * The request's fingerprint (a cacheable one) after that link. The same
   * request after the same link has it again: the link's own fingerprint
   * holds all the chain's fingerprints took in before, the mounted runtime too.
   */
  fingerprint: string;
}

/** Links remembered, engine-wide; past this the oldest go (about 300 bytes each). */
const REMEMBERED_LINKS = 100_000;

/** What `next` holds for a link where a build of the host ended. */
const ENDED = 'ended';

export class TasksAhead {
  private readonly next = new Map<string, NextTask | typeof ENDED>();

  constructor(private readonly limit = REMEMBERED_LINKS) {}

  /** `task` came after link `parent` of `host`'s chain (the latest such task wins). */
  remember(host: string, parent: string, task: NextTask): void {
    this.set(linkKey(host, parent), task);
  }

  /** A build of `host` finished with its chain at `link`: no task came after it. */
  rememberEnd(host: string, link: string): void {
    this.set(linkKey(host, link), ENDED);
  }

  /** The task that came after link `parent` of `host`'s chain last time, if one is remembered. */
  after(host: string, parent: string): NextTask | undefined {
    const next = this.next.get(linkKey(host, parent));
    return next === ENDED ? undefined : next;
  }

  /** Whether the last build of `host` through `link` finished right there. */
  endedAt(host: string, link: string): boolean {
    return this.next.get(linkKey(host, link)) === ENDED;
  }

  private set(key: string, next: NextTask | typeof ENDED): void {
    this.next.delete(key);
    if (this.next.size >= this.limit) this.next.delete(this.next.keys().next().value as string);
    this.next.set(key, next);
  }
}

// The first link's parent is the base image, which many hosts share.
function linkKey(host: string, parent: string): string {
  return `${host}\n${parent}`;
}
