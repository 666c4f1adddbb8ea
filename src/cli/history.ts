// `strata history IMAGE`: what made each step of an image's history, the way
// `docker history` lists them, oldest first: the base image (the host's
// strata_from, by the name the engine resolved), a task (its cache entry),
// or the final image's config (strata_config); for long or squashed chains,
// the flattened copy or the squashed layer that stands for several tasks.

import type Dockerode from 'dockerode';
import { entryTag, fingerprintOfTag, LABEL } from '../cache/entries';
import { dockerCall, unlessGone } from '../docker/client';
import { FLAT_REPO } from '../docker/flatten';
import { SQUASHED_LABEL } from '../docker/squash';
import { docker, print, printJson, short } from './cache-commands';
import { UserError } from './errors';
import { humanBytes, table } from './format';

type Labels = Record<string, string>;

/** One step of `docker history`, oldest first, with what strata knows of the image that made it. */
export interface Step {
  createdBy: string;
  comment: string;
  /** The labels of the cache entry that committed it, if one did. */
  entry?: Labels;
  /** The task whose chain a flattened copy holds, if the step is one. */
  flattened?: string;
}

/** What strata knows of the image as a whole. */
export interface ImageFacts {
  /** How many of the oldest steps are its base's (0 when unknown). */
  baseSteps: number;
  /** The base by the name the engine resolved (strata_from), if the image is a final image. */
  base?: string;
  host?: string;
  final: boolean;
}

export type StepKind = 'base' | 'task' | 'flattened' | 'squashed' | 'config' | 'other';

export interface HistoryRow {
  kind: StepKind;
  layer: number;
  madeBy: string;
  host?: string;
  fingerprint?: string;
  created: string;
}

const STRATA_NOTE = 'strata: ';

/** Docker's own words for a step (strata's commit comment, where it wrote one). */
function dockerText(step: Step): string {
  if (step.comment.startsWith(STRATA_NOTE)) return step.comment.slice(STRATA_NOTE.length);
  return step.createdBy.replace(/^\/bin\/sh -c #\(nop\)\s+/, '').trim() || step.comment;
}

/** What made one step, in a sentence, and of which kind. */
export function describeStep(step: Step, index: number, image: ImageFacts): Pick<HistoryRow, 'kind' | 'madeBy' | 'host' | 'fingerprint'> {
  const of = image.host ? ` of ${image.host}` : '';
  if (index < image.baseSteps) {
    const name = image.base ? `base image ${image.base} (strata_from${of})` : 'base image';
    return { kind: 'base', madeBy: image.baseSteps > 1 ? `${name}: ${dockerText(step)}` : name };
  }
  if (step.entry) return { kind: 'task', madeBy: step.entry[LABEL.task], host: step.entry[LABEL.host], fingerprint: step.entry[LABEL.fingerprint] };
  if (step.flattened) return { kind: 'flattened', madeBy: `the base and every task up to "${step.flattened}", flattened into one layer (overlay's layer limit)` };
  if (step.comment.startsWith(STRATA_NOTE)) return { kind: 'task', madeBy: dockerText(step) };
  if (step.createdBy.startsWith(STRATA_NOTE)) return { kind: 'squashed', madeBy: `${step.createdBy.slice(STRATA_NOTE.length)} (strata_squash)` };
  if (image.final) return { kind: 'config', madeBy: `image config (strata_config${of})` };
  return { kind: 'other', madeBy: dockerText(step) };
}

/**
 * The cache entries `image` was built from, found by walking its labels from
 * entry to parent entry, keyed by the parent's fingerprint (a chain has one
 * entry per parent).
 */
async function chainOf(client: Dockerode, image: string): Promise<Map<string, Labels>> {
  const chain = new Map<string, Labels>();
  let labels = (await client.getImage(image).inspect()).Config?.Labels ?? {};
  while (labels[LABEL.fingerprint] && labels[LABEL.parent] && !chain.has(labels[LABEL.parent])) {
    chain.set(labels[LABEL.parent], labels);
    // The first task's parent is the base image's ID, which names no entry.
    if (labels[LABEL.parent].startsWith('sha256:')) break;
    const parent = await unlessGone(client.getImage(entryTag(labels[LABEL.parent])).inspect());
    labels = parent?.Config?.Labels ?? {};
  }
  return chain;
}

/**
 * What strata knows of the image a history step names: the labels of the
 * cache entry that committed it, if one did, or the task a flattened copy
 * ends with. Labels are inherited, so an image counts as an entry only if it
 * made the layer: its commit comment says so (Docker), or it holds its
 * entry's tag (Podman, whose commit drops the comment). Podman may also name
 * a sibling entry whose layer is identical (two tasks that changed nothing),
 * so the entry is taken from the image's own chain where it can be.
 */
async function knownMaker(client: Dockerode, step: { Id: string; Comment?: string }, chain: Map<string, Labels>): Promise<Pick<Step, 'entry' | 'flattened'>> {
  if (step.Id === '<missing>') return {};
  const image = await client.getImage(step.Id).inspect();
  const flatTag = (image.RepoTags ?? []).find((tag) => tag.startsWith(`${FLAT_REPO}:`));
  if (flatTag) {
    const copied = await unlessGone(client.getImage(entryTag(flatTag.slice(FLAT_REPO.length + 1))).inspect());
    return { flattened: copied?.Config?.Labels?.[LABEL.task] ?? 'an entry since removed' };
  }
  const labels = image.Config?.Labels ?? {};
  if (!labels[LABEL.fingerprint]) return {};
  const made = step.Comment?.startsWith(STRATA_NOTE) || (image.RepoTags ?? []).some((tag) => fingerprintOfTag(tag) === labels[LABEL.fingerprint]);
  return made ? { entry: chain.get(labels[LABEL.parent]) ?? labels } : {};
}

/**
 * How many of the image's oldest steps are its base's: the base's own
 * history, when the image's layers begin with the base's (not when a
 * flattened copy stands in for them).
 */
async function baseSteps(client: Dockerode, info: Dockerode.ImageInspectInfo, baseId: string | undefined): Promise<number> {
  if (!baseId) return 0;
  const base = await unlessGone(client.getImage(baseId).inspect());
  const layers = base?.RootFS?.Layers ?? [];
  if (!base || layers.some((layer, i) => info.RootFS?.Layers?.[i] !== layer)) return 0;
  return (await client.getImage(baseId).history()).length;
}

export async function historyCommand(image: string, opts: { json?: boolean }): Promise<void> {
  const client = await docker();
  const history = await dockerCall(`reading the history of ${image}`, () => client.getImage(image).history()).catch((err) => {
    throw new UserError(`no image ${image}: ${err.message}. Give a tag or ID that \`docker image ls\` shows.`);
  });
  const info = await client.getImage(image).inspect();
  const labels = info.Config?.Labels ?? {};
  const final = labels[LABEL.kind] === 'final' || labels[SQUASHED_LABEL] === 'true';
  const facts: ImageFacts = {
    baseSteps: final ? await baseSteps(client, info, labels[LABEL.baseId]) : 0,
    base: final ? labels[LABEL.base] : undefined,
    host: labels[LABEL.host],
    final,
  };
  const chain = await chainOf(client, image);
  const rows: HistoryRow[] = [];
  for (const [index, step] of [...history].reverse().entries()) {
    const known: Step = { createdBy: step.CreatedBy, comment: step.Comment ?? '', ...(await knownMaker(client, step, chain)) };
    rows.push({ ...describeStep(known, index, facts), layer: step.Size, created: new Date(step.Created * 1000).toISOString() });
  }
  if (opts.json) return printJson(rows);
  print(
    table(
      ['LAYER', 'FINGERPRINT', 'MADE BY'],
      rows.map((r) => [r.layer ? humanBytes(r.layer) : '-', r.fingerprint ? short(r.fingerprint) : '', r.madeBy.length > 90 ? r.madeBy.slice(0, 87) + '...' : r.madeBy]),
    ),
  );
}
