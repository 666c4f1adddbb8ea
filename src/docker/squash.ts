// strata_squash: the final image as the base image's layers plus one layer
// holding everything the tasks did, while the per-task cache chain stays as it
// is for the next build. The task layers of `docker save` are merged the way
// overlay stacks them (a later file wins; a whiteout deletes; an opaque
// directory hides what is below), and the result is loaded with `docker load`
// over the base layers Docker already has, so no container is involved.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type Dockerode from 'dockerode';
import { dockerCall } from './client';
import { loadImageArchive } from './image-load';
import { rfc3339 } from './reproducible-image';

export const SQUASHED_LABEL = 'strata.squashed';
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

function tar(args: string[], input?: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    if (input) input.pipe(child.stdin!);
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`tar ${args[0]} failed: ${err.trim()}`))));
  });
}

const clean = (name: string) => posix.normalize(name.replace(/^\.\//, '')).replace(/\/$/, '');

/** Applies one layer's tar to `merged` as overlay would; keeps track of what must stay hidden below. */
/** The names in a directory; none when it does not exist (yet) in the merged tree. */
async function entriesOf(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function applyLayer(layer: string, merged: string, whiteouts: Set<string>, opaques: Set<string>): Promise<void> {
  const names = (await tar(['-tf', layer])).split('\n').filter(Boolean).map(clean);
  for (const name of names) {
    const base = posix.basename(name);
    const dir = posix.dirname(name);
    if (base === OPAQUE) {
      for (const child of await entriesOf(join(merged, dir))) await rm(join(merged, dir, child), { recursive: true, force: true });
      for (const hidden of [...whiteouts]) if (hidden.startsWith(`${dir}/`)) whiteouts.delete(hidden);
      opaques.add(dir);
    } else if (base.startsWith(WHITEOUT)) {
      const gone = posix.join(dir, base.slice(WHITEOUT.length));
      await rm(join(merged, gone), { recursive: true, force: true });
      whiteouts.add(gone);
    }
  }
  await tar(['-x', '-p', '--same-owner', '--numeric-owner', '--exclude', `${WHITEOUT}*`, '-f', layer, '-C', merged]);
  for (const name of names) whiteouts.delete(name);
}

/** Writes the merged tree, with its whiteout and opaque markers, as one layer tar; returns its diff ID. */
async function writeLayer(merged: string, whiteouts: Set<string>, opaques: Set<string>, out: string, epoch: number | undefined): Promise<string> {
  for (const gone of whiteouts) {
    await mkdir(join(merged, posix.dirname(gone)), { recursive: true });
    await writeFile(join(merged, posix.dirname(gone), WHITEOUT + posix.basename(gone)), '');
  }
  for (const dir of opaques) await writeFile(join(merged, dir, OPAQUE), '');
  // Entries by name, never ".": the layer must not carry metadata for / itself.
  const top = await readdir(merged);
  // With SOURCE_DATE_EPOCH, the same files make the same bytes: in name order, no time past the epoch.
  const reproducible = epoch === undefined ? [] : ['--format=gnu', '--sort=name', `--mtime=@${epoch}`, '--clamp-mtime'];
  await tar(['-c', '--numeric-owner', ...reproducible, '-f', out, '-C', merged, ...top]);
  const digest = createHash('sha256');
  await pipeline(createReadStream(out), digest);
  return `sha256:${digest.digest('hex')}`;
}

interface SavedImage {
  config: Record<string, unknown> & { rootfs: { diff_ids: string[] }; history?: { empty_layer?: boolean }[] };
  layers: string[];
}

async function saveImage(docker: Dockerode, imageId: string, into: string): Promise<SavedImage> {
  const stream = await dockerCall('saving the image to squash', () => docker.getImage(imageId).get());
  await tar(['-x', '-f', '-', '-C', into], stream);
  const [manifest] = JSON.parse(await readFile(join(into, 'manifest.json'), 'utf8'));
  return { config: JSON.parse(await readFile(join(into, manifest.Config), 'utf8')), layers: manifest.Layers.map((l: string) => join(into, l)) };
}

/** The history entries that describe the first `count` layers (and the config steps among them). */
function historyOfLayers(history: { empty_layer?: boolean }[], count: number): { empty_layer?: boolean }[] {
  const kept = [];
  let layers = 0;
  for (const entry of history) {
    if (!entry.empty_layer) {
      if (layers === count) break;
      layers += 1;
    }
    kept.push(entry);
  }
  return kept;
}

/** Loads `imageId` squashed over `baseId` as a new image with `tags`; returns its ID. */
export async function squashOverBase(docker: Dockerode, imageId: string, baseId: string, tags: string[], epoch?: number): Promise<string> {
  const baseLayers = (await dockerCall('reading the base image', () => docker.getImage(baseId).inspect())).RootFS.Layers ?? [];
  const work = await mkdtemp(join(tmpdir(), 'strata-squash-'));
  try {
    await mkdir(join(work, 'saved'));
    const saved = await saveImage(docker, imageId, join(work, 'saved'));
    const merged = join(work, 'merged');
    await mkdir(merged);
    const whiteouts = new Set<string>();
    const opaques = new Set<string>();
    const upper = saved.layers.slice(baseLayers.length);
    for (const layer of upper) await applyLayer(layer, merged, whiteouts, opaques);
    const load = join(work, 'load');
    await mkdir(join(load, 'squashed'), { recursive: true });
    const diffId = await writeLayer(merged, whiteouts, opaques, join(load, 'squashed', 'layer.tar'), epoch);
    const config = saved.config as Record<string, unknown> & { config?: { Labels?: Record<string, string> } };
    config.rootfs = { type: 'layers', diff_ids: [...baseLayers, diffId] };
    config.history = [
      ...historyOfLayers(saved.config.history ?? [], baseLayers.length),
      { created: epoch === undefined ? new Date().toISOString() : rfc3339(epoch), created_by: `strata: ${upper.length} task layers squashed into one` },
    ];
    config.config = { ...(config.config ?? {}), Labels: { ...(config.config?.Labels ?? {}), [SQUASHED_LABEL]: 'true' } };
    await writeFile(join(load, 'config.json'), JSON.stringify(config));
    // The base layers are not in the tarball: `docker load` skips layers it has.
    const baseFiles = baseLayers.map((_, i) => `base${i}/layer.tar`);
    await writeFile(join(load, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: tags, Layers: [...baseFiles, 'squashed/layer.tar'] }]));
    const tarball = join(work, 'image.tar');
    await tar(['-c', '-f', tarball, '-C', load, 'manifest.json', 'config.json', 'squashed']);
    const loaded = await loadImageArchive(docker, createReadStream(tarball), 'loading the squashed image');
    return tags.length ? (await docker.getImage(tags[0]).inspect()).Id : (loaded ?? '');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
