// One piece of work at a time per key. Two builds of one host that run side
// by side on one engine reach the same task at nearly the same moment; each
// checks whether the other has committed it before committing its own, and
// that check and the commit after it must be one step, or both builds commit,
// the second entry replaces the first, and each build goes on building on
// its own, leaving a chain whose links do not fit each other.

export class Turns {
  private readonly last = new Map<string, Promise<unknown>>();

  /** Runs `work` once every earlier work for `key` has settled. */
  take<T>(key: string, work: () => Promise<T>): Promise<T> {
    const mine = (this.last.get(key) ?? Promise.resolve()).then(work);
    const settled = mine.then(
      () => undefined,
      () => undefined,
    );
    this.last.set(key, settled);
    void settled.then(() => {
      if (this.last.get(key) === settled) this.last.delete(key);
    });
    return mine;
  }
}
