// The image a user gets: the last layer of the host's chain with the host's
// `strata_config` applied, tagged with `strata_image`. It adds no layer and
// starts no container, and it is tagged only once it exists, so a failure
// never moves a tag. A rebuild that changed nothing keeps the same image.

import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { StrataError } from '../protocol/frames';
import { BaseCommand } from './base-image';
import { dockerCall, followProgress, fullImageId, isPodman, removeImageIfPresent, unlessGone } from './client';
import { removeContainer } from './containers';
import { quote } from './dockerfile';
import { ImageConfig } from './image-config';
import { ChainStep, composeConfig, loadComposedImage } from './reproducible-image';
import { SQUASHED_LABEL, squashOverBase } from './squash';

export function finalDockerfile(fromId: string, config: ImageConfig, base: BaseCommand): string {
  // ENTRYPOINT comes first: setting it clears an inherited CMD.
  const lines = [
    `FROM ${fromId}`,
    `ENTRYPOINT ${JSON.stringify(config.entrypoint ?? base.entrypoint ?? [])}`,
    `CMD ${JSON.stringify(config.cmd ?? base.cmd ?? [])}`,
  ];
  for (const [name, value] of Object.entries(config.env ?? {})) {
    lines.push(`ENV ${quote(name, `strata_config.env name ${name}`)}=${quote(value, `strata_config.env.${name}`)}`);
  }
  if (config.ports?.length) lines.push(`EXPOSE ${config.ports.join(' ')}`);
  if (config.volumes?.length) lines.push(`VOLUME ${JSON.stringify(config.volumes)}`);
  if (config.user) lines.push(`USER ${quote(config.user, 'strata_config.user')}`);
  if (config.workdir) lines.push(`WORKDIR ${quote(config.workdir, 'strata_config.workdir')}`);
  if (config.stop_signal) lines.push(`STOPSIGNAL ${config.stop_signal}`);
  return lines.join('\n') + '\n';
}

interface BuildMessage {
  error?: string;
  aux?: { ID?: string };
}

async function buildFromDockerfile(docker: Dockerode, dockerfile: string, labels: Record<string, string>): Promise<string> {
  const context = await mkdtemp(join(tmpdir(), 'strata-final-'));
  try {
    await writeFile(join(context, 'Dockerfile'), dockerfile);
    const stream = await docker.buildImage({ context, src: ['Dockerfile'] }, { labels, rm: true, forcerm: true });
    let messages: BuildMessage[];
    try {
      messages = await followProgress<BuildMessage>(docker, stream);
    } catch (err) {
      throw new StrataError('docker_error', `Docker could not apply the image config: ${(err as Error).message}`);
    }
    const id = messages.find((m) => m.aux?.ID)?.aux?.ID;
    if (!id) throw new StrataError('docker_error', 'Docker built the final image but did not say its ID');
    return id;
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}

/** An image name's repository and tag (`latest` when it names none). */
export function splitTag(tag: string): { repo: string; tag: string } {
  const colon = tag.lastIndexOf(':');
  // A colon before the last slash belongs to a registry port, not a tag.
  if (colon > tag.lastIndexOf('/')) return { repo: tag.slice(0, colon), tag: tag.slice(colon + 1) };
  return { repo: tag, tag: 'latest' };
}

/** The run config the final image gets: strata_config over the base image's command. */
interface FinalConfig {
  cmd: string[] | null;
  entrypoint: string[] | null;
  config: ImageConfig;
  labels: Record<string, string>;
}

/**
 * Docker fills an empty command from the image, in a container as in a
 * commit, unless an entrypoint is set. So the container for an image that is
 * to have neither is created with this entrypoint (it is never started,
 * nothing runs it), its command stays empty, and the commit's empty
 * entrypoint replaces it.
 */
const NEVER_RUN_ENTRYPOINT = ['/strata-final-image-container-is-never-started'];

/**
 * Writes the config with one `docker commit` of a container that is created
 * from the chain's tip and never started: no layer, no builder.
 */
async function commitFinal(docker: Dockerode, fromId: string, final: FinalConfig): Promise<string> {
  const config = {
    Cmd: final.cmd ?? undefined,
    Entrypoint: final.entrypoint ?? [],
    Env: Object.entries(final.config.env ?? {}).map(([k, v]) => `${k}=${v}`),
    User: final.config.user,
    WorkingDir: final.config.workdir,
    ExposedPorts: Object.fromEntries((final.config.ports ?? []).map((p) => [p, {}])),
    Volumes: Object.fromEntries((final.config.volumes ?? []).map((v) => [v, {}])),
    StopSignal: final.config.stop_signal,
    Labels: final.labels,
  };
  const runsNothing = !final.cmd?.length && !final.entrypoint?.length;
  const container = await docker.createContainer({ Image: fromId, ...config, ...(runsNothing ? { Entrypoint: NEVER_RUN_ENTRYPOINT } : {}) });
  try {
    const { Id } = await container.commit({ pause: false, ...config });
    return fullImageId(Id);
  } finally {
    await removeContainer(docker, container.id);
  }
}

/** The layer Podman's commit adds even when nothing changed: an empty tar. */
const EMPTY_LAYER = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

/** Whether `image` already is the final image `key` describes (on top of layers `fromLayers`, or squashed). */
async function alreadyBuilt(docker: Dockerode, image: string, key: string, fromLayers: string[], squashed: boolean): Promise<string | undefined> {
  const current = await unlessGone(docker.getImage(image).inspect());
  if (!current) return undefined;
  const labels = current.Config?.Labels ?? {};
  const sameLayers = [fromLayers, [...fromLayers, EMPTY_LAYER]].some(
    (layers) => JSON.stringify(current.RootFS.Layers) === JSON.stringify(layers),
  );
  const made = squashed ? labels[SQUASHED_LABEL] === 'true' : sameLayers;
  return labels[FINAL_LABEL] === key && made ? current.Id : undefined;
}

/** A final image made before for a host without strata_image: found by its key, as no tag names it. */
async function builtUntagged(docker: Dockerode, key: string, fromLayers: string[], squashed: boolean): Promise<string | undefined> {
  const found = await dockerCall('looking for the final image', () => docker.listImages({ filters: { label: [`${FINAL_LABEL}=${key}`] } }));
  for (const image of found) {
    const id = await alreadyBuilt(docker, image.Id, key, fromLayers, squashed);
    if (id) return id;
  }
  return undefined;
}

/** Names what a final image is made of, so a rebuild that changed nothing keeps the same image. */
const FINAL_LABEL = 'strata.final';

export interface FinalImageSpec {
  fromId: string;
  /** The layers (diff IDs) of `fromId`, which the chain knows. */
  fromLayers: string[];
  config: ImageConfig;
  base: BaseCommand & { id: string };
  labels: Record<string, string>;
  tags: string[];
  /** strata_squash: the task layers as one layer over the base's. */
  squash: boolean;
  /** SOURCE_DATE_EPOCH: the image's config is written by strata, dated then (reproducible-image.ts). */
  epoch?: number;
  /** The chain's steps after the base, for the history of a reproducible image. */
  steps: ChainStep[];
}

export async function buildFinalImage(docker: Dockerode, opts: FinalImageSpec): Promise<string> {
  const cmd = opts.config.cmd ?? opts.base.cmd;
  const entrypoint = opts.config.entrypoint ?? opts.base.entrypoint;
  // A reproducible image names its layers, not the tip's image ID, which differs on every daemon.
  const from = opts.epoch === undefined ? opts.fromId : [opts.fromLayers, opts.epoch];
  const key = createHash('sha256').update(JSON.stringify([from, opts.config, cmd, entrypoint, opts.labels, opts.squash])).digest('hex');
  const labels = { ...(opts.config.labels ?? {}), ...opts.labels, [FINAL_LABEL]: key };
  const existing = opts.tags.length
    ? await alreadyBuilt(docker, opts.tags[0], key, opts.fromLayers, opts.squash)
    : await builtUntagged(docker, key, opts.fromLayers, opts.squash);
  if (existing) {
    // The first tag names it already.
    await tagAll(docker, existing, opts.tags.slice(1));
    return existing;
  }
  const final = { cmd, entrypoint, config: opts.config, labels };
  const configured = opts.epoch === undefined ? await configuredByDocker(docker, opts, final) : await reproducibleConfigured(docker, opts, final, opts.epoch);
  if (!opts.squash) {
    await tagAll(docker, configured, opts.tags);
    return configured;
  }
  const squashed = await squashOverBase(docker, configured, opts.base.id, opts.tags, opts.epoch);
  await removeImageIfPresent(docker, configured);
  return squashed;
}

/** The tip with the final config, as Docker writes it: dated now. */
async function configuredByDocker(docker: Dockerode, opts: FinalImageSpec, final: FinalConfig): Promise<string> {
  // Podman's commit takes the container's config, not the body's: with neither
  // command nor entrypoint, only its builder can write that.
  const byBuilder = !final.cmd?.length && !final.entrypoint?.length && (await isPodman(docker));
  return dockerCall('applying strata_config', () =>
    byBuilder
      ? buildFromDockerfile(docker, finalDockerfile(opts.fromId, opts.config, opts.base), final.labels)
      : commitFinal(docker, opts.fromId, final),
  );
}

/** The tip with the final config, as strata writes it with SOURCE_DATE_EPOCH: the same ID wherever the same layers are built. */
async function reproducibleConfigured(docker: Dockerode, opts: FinalImageSpec, final: FinalConfig, epoch: number): Promise<string> {
  const config = await composeConfig(docker, { baseId: opts.base.id, layers: opts.fromLayers, steps: opts.steps, ...final, epoch });
  return loadComposedImage(docker, config, opts.fromLayers.length);
}

async function tagAll(docker: Dockerode, imageId: string, tags: string[]): Promise<void> {
  for (const tag of tags) {
    await dockerCall(`tagging ${tag}`, () => docker.getImage(imageId).tag(splitTag(tag)));
  }
}
