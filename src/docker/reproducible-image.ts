// The final image of a build with SOURCE_DATE_EPOCH: its config written by
// strata, byte for byte the same wherever the same layers are built, and
// loaded over the layers Docker already has. An image's ID is the digest of
// its config, and `docker commit` writes the time of the commit, the build
// container's ID and the daemon's version into it; this config holds only
// what the build decided: the base's run config with strata_config applied,
// the layers, and a history whose every strata step is dated at the epoch.

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { dockerCall, unlessGone } from './client';
import { ImageConfig } from './image-config';
import { loadImageArchive } from './image-load';
import { tarOfFiles } from './tar';

/** One step of the chain after the base: the task that made it, and whether it made a layer. */
export interface ChainStep {
  /** What `docker history` shows as the step's comment (as a commit's comment: "strata: HOST: LABEL"). */
  comment: string;
  addedLayer: boolean;
}

export interface ComposedSpec {
  baseId: string;
  /** The diff IDs of the chain's tip: the base's, then the tasks'. */
  layers: string[];
  steps: ChainStep[];
  cmd: string[] | null;
  entrypoint: string[] | null;
  config: ImageConfig;
  labels: Record<string, string>;
  epoch: number;
}

interface HistoryEntry {
  created: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** A time as image configs write it (RFC 3339, UTC, whole seconds). */
export function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * The base's history as its config holds it, from Docker's history API
 * (which gives each step's size but not whether it made a layer): steps
 * with bytes made layers; when that counts fewer than the base's layers,
 * the oldest empty steps not written by a Dockerfile instruction made the
 * rest (empty tar layers).
 */
async function baseHistory(docker: Dockerode, baseId: string, layerCount: number): Promise<HistoryEntry[]> {
  const steps = [...(await dockerCall('reading the base image\'s history', () => docker.getImage(baseId).history()))].reverse();
  let missing = layerCount - steps.filter((step) => step.Size > 0).length;
  const made = steps.map((step) => {
    if (step.Size > 0) return true;
    if (missing > 0 && !String(step.CreatedBy).includes('#(nop)')) {
      missing -= 1;
      return true;
    }
    return false;
  });
  if (missing !== 0 || made.filter(Boolean).length !== layerCount) {
    return Array.from({ length: layerCount }, () => ({ created: rfc3339(0), created_by: 'base image layer' }));
  }
  return steps.map((step, i) => ({
    created: rfc3339(step.Created),
    ...(step.CreatedBy ? { created_by: step.CreatedBy } : {}),
    ...(step.Comment ? { comment: step.Comment } : {}),
    ...(made[i] ? {} : { empty_layer: true }),
  }));
}

/** The history of the chain's own steps; generic when the layers do not match them one for one (a flattened chain). */
function chainHistory(steps: ChainStep[], taskLayers: number, created: string): HistoryEntry[] {
  if (steps.filter((step) => step.addedLayer).length === taskLayers) {
    return steps.map((step) => ({ created, created_by: step.comment, comment: step.comment, ...(step.addedLayer ? {} : { empty_layer: true }) }));
  }
  return Array.from({ length: taskLayers }, () => ({ created, created_by: 'strata: task layers', comment: 'strata: task layers' }));
}

/** The base's history, then the chain's; all generic when the layers do not start with the base's (a flattened chain). */
async function history(docker: Dockerode, spec: ComposedSpec, baseLayers: string[], created: string): Promise<HistoryEntry[]> {
  if (baseLayers.some((layer, i) => spec.layers[i] !== layer)) return chainHistory([], spec.layers.length, created);
  return [...(await baseHistory(docker, spec.baseId, baseLayers.length)), ...chainHistory(spec.steps, spec.layers.length - baseLayers.length, created)];
}

function mergedEnv(env: string[], extra: Record<string, string>): string[] {
  const out = [...env];
  for (const [name, value] of Object.entries(extra)) {
    const at = out.findIndex((pair) => pair.split('=', 1)[0] === name);
    if (at >= 0) out[at] = `${name}=${value}`;
    else out.push(`${name}=${value}`);
  }
  return out;
}

const asSet = (names: string[] | undefined) => (names?.length ? Object.fromEntries(names.map((n) => [n, {}])) : undefined);

/** The run config: the base's, with strata_config applied as `docker commit` would apply it. */
function runConfig(base: Dockerode.ImageInspectInfo['Config'], spec: ComposedSpec): Record<string, unknown> {
  const { config } = spec;
  const fields: Record<string, unknown> = {
    User: config.user ?? base.User,
    ExposedPorts: { ...(base.ExposedPorts ?? {}), ...asSet(config.ports) },
    Env: mergedEnv(base.Env ?? [], config.env ?? {}),
    Entrypoint: spec.entrypoint,
    Cmd: spec.cmd,
    Volumes: { ...(base.Volumes ?? {}), ...asSet(config.volumes) },
    WorkingDir: config.workdir ?? base.WorkingDir,
    Labels: { ...(base.Labels ?? {}), ...spec.labels },
    StopSignal: config.stop_signal ?? (base as { StopSignal?: string }).StopSignal,
    Healthcheck: (base as { Healthcheck?: unknown }).Healthcheck,
    Shell: (base as { Shell?: unknown }).Shell,
  };
  // Only what is set: an empty field would change the digest and say nothing.
  return Object.fromEntries(
    Object.entries(fields).filter(([, v]) => v !== undefined && v !== null && v !== '' && !(typeof v === 'object' && Object.keys(v as object).length === 0)),
  );
}

/** The image config, as the bytes whose digest is the image's ID. */
export async function composeConfig(docker: Dockerode, spec: ComposedSpec): Promise<Buffer> {
  const base = await dockerCall('reading the base image', () => docker.getImage(spec.baseId).inspect());
  const baseLayers = base.RootFS.Layers ?? [];
  const created = rfc3339(spec.epoch);
  const config = {
    architecture: base.Architecture,
    ...((base as { Variant?: string }).Variant ? { variant: (base as { Variant?: string }).Variant } : {}),
    os: base.Os,
    config: runConfig(base.Config, spec),
    created,
    history: await history(docker, spec, baseLayers, created),
    rootfs: { type: 'layers', diff_ids: spec.layers },
  };
  return Buffer.from(JSON.stringify(config));
}

/** The image with exactly this config, over layers Docker has: found if it exists already, else loaded. Returns its ID. */
export async function loadComposedImage(docker: Dockerode, config: Buffer, layerCount: number): Promise<string> {
  const id = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  if (await unlessGone(docker.getImage(id).inspect())) return id;
  // Layer files are named but not included: Docker has every one of them.
  const manifest = [{ Config: 'config.json', RepoTags: null, Layers: Array.from({ length: layerCount }, (_, i) => `layer-${i}/layer.tar`) }];
  const archive = tarOfFiles({ 'manifest.json': Buffer.from(JSON.stringify(manifest)), 'config.json': config });
  const loaded = await loadImageArchive(docker, Readable.from([archive]), 'loading the reproducible final image');
  return loaded ?? id;
}
