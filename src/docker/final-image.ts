// The image a user gets: the last layer of the host's chain with the host's
// `strata_config` applied, tagged with `strata_image`. It is built as a
// metadata-only `docker build` (FROM the chain's tip, then config
// instructions), which adds no layer and starts no container, and it is
// tagged only once it exists, so a failure never moves a tag.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { StrataError } from '../protocol/frames';
import { dockerCall } from './client';
import { ImageConfig } from './image-config';

/** What the base image's config said; the final image falls back to it. */
export interface BaseCommand {
  cmd: string[] | null;
  entrypoint: string[] | null;
}

/** Quotes a word for a Dockerfile instruction that substitutes variables (ENV, USER...). */
export function quote(word: string, what: string): string {
  if (/[\r\n]/.test(word)) {
    throw new StrataError('bad_config', `${what} contains a line break, which an image config value cannot hold. Fix the inventory.`);
  }
  return `"${word.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

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
    const messages = await new Promise<BuildMessage[]>((resolve, reject) =>
      docker.modem.followProgress(stream, (err: Error | null, out: BuildMessage[]) => (err ? reject(err) : resolve(out))),
    );
    const failure = messages.find((m) => m.error);
    if (failure) throw new StrataError('docker_error', `Docker could not apply the image config: ${failure.error}`);
    const id = messages.find((m) => m.aux?.ID)?.aux?.ID;
    if (!id) throw new StrataError('docker_error', 'Docker built the final image but did not say its ID');
    return id;
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}

function splitTag(tag: string): { repo: string; tag: string } {
  const colon = tag.lastIndexOf(':');
  // A colon before the last slash belongs to a registry port, not a tag.
  if (colon > tag.lastIndexOf('/')) return { repo: tag.slice(0, colon), tag: tag.slice(colon + 1) };
  return { repo: tag, tag: 'latest' };
}

export async function buildFinalImage(
  docker: Dockerode,
  opts: { fromId: string; config: ImageConfig; base: BaseCommand; labels: Record<string, string>; tags: string[] },
): Promise<string> {
  const dockerfile = finalDockerfile(opts.fromId, opts.config, opts.base);
  const labels = { ...(opts.config.labels ?? {}), ...opts.labels };
  const imageId = await dockerCall('applying strata_config', () => buildFromDockerfile(docker, dockerfile, labels));
  for (const tag of opts.tags) {
    await dockerCall(`tagging ${tag}`, () => docker.getImage(imageId).tag(splitTag(tag)));
  }
  return imageId;
}
