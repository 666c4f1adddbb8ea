// `strata ls`, `strata explain`, `strata prune`: seeing and steering the
// cache the way `docker image ls` and `docker builder prune` do (`strata
// history`, the way `docker history` does, is history.ts).

import type Dockerode from 'dockerode';
import { CatalogEntry, entryInputs, listEntries } from '../cache/catalog';
import { blobTagsOf, isBlobTag } from '../cache/blob-store';
import { CACHE_REPO, entryTag, LABEL } from '../cache/entries';
import { explainDifference } from '../cache/explain';
import { ATTESTS_LABEL, PROVENANCE_REPO } from '../cache/provenance-store';
import { FLAT_REPO } from '../docker/flatten';
import { readSettings } from '../engine/settings';
import { connectDocker, dockerCall, dockerMessage, isDockerUnreachable, dockerUnavailable, removeImageIfPresent, unlessGone } from '../docker/client';
import { ExitCode, UserError } from './errors';
import { humanAge, humanBytes, parseDuration, table } from './format';

interface JsonOption {
  json?: boolean;
}

export function print(text: string): void {
  process.stdout.write(text);
}

export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2) + '\n');
}

/** Docker, or a UserError saying it cannot be reached. */
export async function docker(): Promise<Dockerode> {
  const client = connectDocker();
  try {
    await client.ping();
  } catch (err) {
    throw new UserError(isDockerUnreachable(err) ? dockerUnavailable(err).message : dockerMessage(err), ExitCode.DockerUnavailable);
  }
  return client;
}

export const short = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);
const oneLine = (text: string) => text.split(/\s+/).join(' ');

function entryJson(e: CatalogEntry) {
  return { ...e, created: e.created.toISOString(), lastUsed: e.lastUsed.toISOString() };
}

export async function lsCommand(opts: JsonOption & { host?: string }): Promise<void> {
  const entries = await listEntries(await docker(), opts.host);
  if (opts.json) return printJson(entries.map(entryJson));
  if (!entries.length) return print(opts.host ? `no cache entries for host ${opts.host}\n` : 'the cache is empty\n');
  const rows = entries.map((e) => [
    e.host,
    String(e.position),
    oneLine(e.task).length > 48 ? oneLine(e.task).slice(0, 45) + '...' : oneLine(e.task),
    short(e.fingerprint),
    short(e.imageId),
    e.layerBytes ? humanBytes(e.layerBytes) : '-',
    humanAge(e.created),
    humanAge(e.lastUsed),
  ]);
  print(table(['HOST', 'POS', 'TASK', 'FINGERPRINT', 'IMAGE', 'LAYER', 'CREATED', 'LAST USED'], rows));
  const total = entries.reduce((sum, e) => sum + e.layerBytes, 0);
  print(`${entries.length} entries, ${humanBytes(total)} in their own layers\n`);
}

/** The entry a user means: a fingerprint (prefix), or a host's latest build's first miss. */
function pickEntry(entries: CatalogEntry[], what: string): CatalogEntry {
  if (/^[0-9a-f]{6,64}$/.test(what)) {
    const found = entries.filter((e) => e.fingerprint.startsWith(what));
    if (found.length === 1) return found[0];
    if (found.length > 1) throw new UserError(`fingerprint ${what} is ambiguous (${found.length} entries); give more of it`, ExitCode.Usage);
  }
  const ofHost = entries.filter((e) => e.host === what);
  if (!ofHost.length) {
    throw new UserError(`no cache entry has fingerprint or host ${JSON.stringify(what)}; \`strata ls\` lists them`, ExitCode.Usage);
  }
  const newest = ofHost.reduce((a, b) => (b.created > a.created ? b : a));
  const ofBuild = ofHost.filter((e) => e.build === newest.build);
  return ofBuild.reduce((a, b) => (b.position < a.position ? b : a));
}

/** The earlier entry a missed entry is best compared with: same host and place, the same parent if any. */
function closestEarlier(entries: CatalogEntry[], entry: CatalogEntry): CatalogEntry | undefined {
  const rivals = entries.filter(
    (e) => e.host === entry.host && e.position === entry.position && e.fingerprint !== entry.fingerprint && e.created <= entry.created,
  );
  const byRecency = (a: CatalogEntry, b: CatalogEntry) => b.lastUsed.getTime() - a.lastUsed.getTime();
  return [...rivals.filter((e) => e.parent === entry.parent).sort(byRecency), ...rivals.filter((e) => e.parent !== entry.parent).sort(byRecency)][0];
}

export async function explainCommand(what: string, opts: JsonOption): Promise<void> {
  const client = await docker();
  const entries = await listEntries(client);
  const entry = pickEntry(entries, what);
  const earlier = closestEarlier(entries, entry);
  const subject = `${entry.host}, task ${entry.position} "${entry.task}" (entry ${short(entry.fingerprint)}, built ${humanAge(entry.created)})`;
  if (!earlier) {
    if (opts.json) return printJson({ entry: entryJson(entry), comparedWith: null, reasons: [] });
    return print(`${subject}\nhas no earlier entry at that place in the chain to compare with: it is the first build of that task.\n`);
  }
  const { sealing } = readSettings();
  const [now, before] = await Promise.all([entryInputs(client, entry, sealing), entryInputs(client, earlier, sealing)]);
  const baseDiffers = entry.position === 0 && entry.parent !== earlier.parent;
  const reasons = explainDifference({ now, before, parentDiffers: entry.parent !== earlier.parent, baseDiffers });
  if (opts.json) return printJson({ entry: entryJson(entry), comparedWith: entryJson(earlier), reasons });
  print(`${subject}\nmissed the cache because:\n${reasons.map((r) => `  - ${r}\n`).join('')}`);
  print(`compared with entry ${short(earlier.fingerprint)} (built ${humanAge(earlier.created)}, last used ${humanAge(earlier.lastUsed)})\n`);
}

interface PruneOptions extends JsonOption {
  olderThan?: string;
  keepLast?: string;
  all?: boolean;
  dryRun?: boolean;
  host?: string;
}

/** The entries a prune removes, by the rules the options give. */
export function entriesToPrune(entries: CatalogEntry[], rules: { olderThanMs?: number; keepLast?: number; all?: boolean }, now = Date.now()): CatalogEntry[] {
  if (rules.all) return entries;
  const doomed = new Set<CatalogEntry>();
  if (rules.olderThanMs !== undefined) {
    for (const e of entries) if (now - e.lastUsed.getTime() > rules.olderThanMs) doomed.add(e);
  }
  if (rules.keepLast !== undefined) {
    const places = new Map<string, CatalogEntry[]>();
    for (const e of entries) places.set(`${e.host}\0${e.position}`, [...(places.get(`${e.host}\0${e.position}`) ?? []), e]);
    for (const group of places.values()) {
      group.sort((a, b) => b.lastUsed.getTime() - a.lastUsed.getTime()).slice(rules.keepLast).forEach((e) => doomed.add(e));
    }
  }
  return entries.filter((e) => doomed.has(e));
}

export async function pruneCommand(opts: PruneOptions): Promise<void> {
  const olderThanMs = opts.olderThan === undefined ? undefined : parseDuration(opts.olderThan);
  if (opts.olderThan !== undefined && olderThanMs === undefined) {
    throw new UserError(`--older-than ${JSON.stringify(opts.olderThan)} is not a duration; use e.g. 30m, 12h, 7d or 2w`, ExitCode.Usage);
  }
  const keepLast = opts.keepLast === undefined ? undefined : Number(opts.keepLast);
  if (keepLast !== undefined && !(Number.isInteger(keepLast) && keepLast >= 0)) {
    throw new UserError(`--keep-last ${JSON.stringify(opts.keepLast)} must be a whole number, 0 or more`, ExitCode.Usage);
  }
  if (!opts.all && olderThanMs === undefined && keepLast === undefined) {
    throw new UserError('say what to prune: --older-than DURATION, --keep-last N, or --all (add --dry-run to see first)', ExitCode.Usage);
  }
  const client = await docker();
  const doomed = entriesToPrune(await listEntries(client, opts.host), { olderThanMs, keepLast, all: opts.all });
  let freed = 0;
  let leftovers = { images: 0, bytes: 0 };
  if (!opts.dryRun) {
    for (const entry of doomed) {
      // Removing the tag deletes the image only if no other image is built on
      // it: Docker itself keeps every layer a tagged image still uses.
      const deleted = await dockerCall(`removing ${entry.tag}`, () => client.getImage(entry.tag).remove());
      if ((deleted as { Deleted?: string }[]).some((d) => d.Deleted === entry.imageId)) freed += entry.layerBytes;
    }
    await removeOrphanFlats(client);
    freed += await removeUnusedBlobs(client);
    leftovers = await removeUnnamedImages(client, opts.host);
    await removeOrphanProvenance(client);
  }
  freed += leftovers.bytes;
  if (opts.json) {
    return printJson({ dryRun: Boolean(opts.dryRun), removed: doomed.map(entryJson), unnamedRemoved: leftovers.images, unnamedFreedBytes: leftovers.bytes, freedBytes: freed });
  }
  if (leftovers.images) {
    print(`removed ${leftovers.images} unnamed image(s) strata left behind (a build stopped mid-commit, or a replaced final image), freeing ${humanBytes(leftovers.bytes)}\n`);
  }
  const verb = opts.dryRun ? 'would remove' : 'removed';
  for (const e of doomed) print(`${verb} ${e.host} ${e.position} ${short(e.fingerprint)} ${oneLine(e.task)}\n`);
  print(opts.dryRun ? `${doomed.length} entries would be removed\n` : `${doomed.length} entries removed, ${humanBytes(freed)} freed\n`);
}

/**
 * Images with strata's labels that have no name and nothing built on them:
 * what a build killed mid-commit, or a final image whose tag moved on,
 * leaves. No cache entry and no image anyone can name uses them.
 */
async function removeUnnamedImages(client: Dockerode, host?: string): Promise<{ images: number; bytes: number }> {
  const labels = host ? [`${LABEL.host}=${host}`] : [LABEL.host];
  const unnamed = await client.listImages({ filters: { dangling: ['true'], label: labels } });
  const own = unnamed.length ? await ownBytes(client) : new Map<string, number>();
  let [images, bytes] = [0, 0];
  for (const image of unnamed) {
    if (!(await removeUnlessInUse(client, image.Id))) continue;
    images += 1;
    bytes += own.get(image.Id) ?? 0;
  }
  return { images, bytes };
}

/**
 * What removing each image frees: the size of its layers no other image
 * uses (Docker's disk usage report: size minus shared size). An image's
 * size counts its base too, which it shares.
 */
async function ownBytes(client: Dockerode): Promise<Map<string, number>> {
  const usage = (await dockerCall("reading Docker's disk usage", () => client.df())) as { Images?: { Id: string; Size: number; SharedSize: number }[] };
  return new Map((usage.Images ?? []).filter((i) => i.SharedSize >= 0).map((i) => [i.Id, i.Size - i.SharedSize]));
}

/**
 * Removes an image; false when a container still uses it (409: a running
 * build's, on a layer its next task builds on) or it is already gone.
 */
async function removeUnlessInUse(client: Dockerode, ref: string): Promise<boolean> {
  try {
    await client.getImage(ref).remove();
    return true;
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    if (status === 409 || status === 404) return false;
    throw err;
  }
}

/** Large values are kept for the entries that name them; once none does, they go. Returns the bytes freed. */
async function removeUnusedBlobs(client: Dockerode): Promise<number> {
  const images = await client.listImages({ filters: { reference: [`${CACHE_REPO}:*`] } });
  const named = new Set(images.flatMap((image) => (image.Labels?.[LABEL.fingerprint] ? blobTagsOf(image.Labels) : [])));
  let freed = 0;
  for (const image of images) {
    for (const tag of image.RepoTags ?? []) {
      const bare = tag.slice(tag.lastIndexOf(':') + 1);
      if (!isBlobTag(bare) || named.has(bare)) continue;
      if (await removeUnlessInUse(client, tag)) freed += image.Size;
    }
  }
  return freed;
}

/**
 * Removes the tags of `repo` whose image is kept only for another one
 * (`keptFor` names it, from the tag or the image's labels), once that one is gone.
 */
async function removeOrphans(client: Dockerode, repo: string, keptFor: (tag: string, labels: Record<string, string>) => string | undefined): Promise<void> {
  const images = await client.listImages({ filters: { reference: [`${repo}:*`] } });
  for (const image of images) {
    for (const tag of image.RepoTags ?? []) {
      const subject = keptFor(tag, image.Labels ?? {});
      if (subject && !(await unlessGone(client.getImage(subject).inspect()))) await removeImageIfPresent(client, tag);
    }
  }
}

/** A provenance is kept for its image; once the image is gone, so is what it attests. */
const removeOrphanProvenance = (client: Dockerode) => removeOrphans(client, PROVENANCE_REPO, (_tag, labels) => labels[ATTESTS_LABEL]);

/** Flattened copies are kept for their chain link; without the link's entry they only take space. */
const removeOrphanFlats = (client: Dockerode) => removeOrphans(client, FLAT_REPO, (tag) => entryTag(tag.split(':')[1]));
