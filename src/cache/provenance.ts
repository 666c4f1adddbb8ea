// How a final image was made, as a document anyone can read and this cache's
// key holder can check: an in-toto statement with a SLSA provenance v1
// predicate (builder and version, build type, the playbook and inventory it
// was run with, the base image and files that decided it), and for every
// task of the chain its label, fingerprint, whether it came from the cache,
// and the layer it left. It is signed in a DSSE envelope with a key derived
// from the sealing key, as registry cache entries are (entry-signature.ts):
// every machine that shares the cache (STRATA_SECRET) can verify it, nobody
// else can forge it. It names no task's args beyond its label, which never
// holds a value Ansible hides (no_log, a module's secret options,
// environment:), and no result.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { BuildInputs } from '../protocol/frames';
import { SealingKey } from './stored-value';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const PREDICATE_TYPE = 'https://slsa.dev/provenance/v1';
export const BUILD_TYPE = 'urn:strata:buildtype:ansible-playbook:v1';
export const BUILDER_ID = 'urn:strata:builder:engine';
export const PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** One task of the host's chain, as the engine saw it. */
export interface TaskStep {
  position: number;
  action: string | null;
  label: string;
  fingerprint: string;
  cached: boolean;
  /** The layer the task left (its diff ID), or null when it changed no file. */
  layer: string | null;
}

/** What the engine knows of a final image when it is made; the store adds what Docker knows (layers, digests). */
export interface Attestation {
  host: string;
  imageId: string;
  tags: string[];
  base: { ref: string; id: string };
  /** strata's version. */
  strata: string;
  build: string;
  startedOn: Date;
  epoch: number | undefined;
  squash: boolean;
  inputs: BuildInputs | undefined;
  steps: TaskStep[];
}

/** An attestation with what Docker knows of the image and its base. */
export interface ProvenanceFacts extends Omit<Attestation, 'imageId' | 'tags' | 'base'> {
  image: { id: string; tags: string[]; layers: string[] };
  base: { ref: string; id: string; digests: string[]; layers: string[] };
  finishedOn: Date;
}

type Json = Record<string, unknown>;

/** A digest's hex, without its `sha256:`. */
export const hexOf = (digest: string) => digest.replace(/^sha256:/, '');

export function provenanceStatement(f: ProvenanceFacts): Json {
  const inputs = f.inputs ?? { ansible_core: 'unknown', playbooks: [], inventories: [], files: [] };
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name: f.image.tags[0] ?? f.image.id, digest: { sha256: hexOf(f.image.id) }, annotations: { image_id: f.image.id, tags: f.image.tags, layers: f.image.layers } }],
    predicateType: PREDICATE_TYPE,
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: {
          playbooks: inputs.playbooks,
          inventories: inputs.inventories,
          host: f.host,
          tags: f.image.tags,
          base: f.base.ref,
          source_date_epoch: f.epoch ?? null,
          squash: f.squash,
        },
        resolvedDependencies: [
          {
            name: 'base',
            uri: `docker-image://${f.base.ref}`,
            digest: { sha256: hexOf(f.base.id) },
            annotations: { image_id: f.base.id, repo_digests: f.base.digests, layers: f.base.layers },
          },
          ...inputs.files.map((file) => ({ name: file.path, uri: `file:${file.path}`, digest: { sha256: file.sha256 } })),
        ],
      },
      runDetails: {
        builder: { id: BUILDER_ID, version: { strata: f.strata, 'ansible-core': inputs.ansible_core } },
        metadata: { invocationId: f.build, startedOn: f.startedOn.toISOString(), finishedOn: f.finishedOn.toISOString() },
        byproducts: f.steps.map((step) => ({
          name: `task ${step.position + 1}: ${step.label}`,
          ...(step.layer ? { digest: { sha256: hexOf(step.layer) } } : {}),
          annotations: { ...step },
        })),
      },
    },
  };
}

export interface Envelope {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/** DSSE's pre-authentication encoding: what a signature covers. */
function pae(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `), payload]);
}

function signingKey(key: SealingKey): Buffer {
  return createHmac('sha256', key.bytes()).update('strata provenance signature v1').digest();
}

/** Names the key without saying anything of it. */
export function keyId(key: SealingKey): string {
  return `strata-hmac-sha256:${createHash('sha256').update(signingKey(key)).digest('hex').slice(0, 16)}`;
}

function signature(key: SealingKey, payload: Buffer): Buffer {
  return createHmac('sha256', signingKey(key)).update(pae(PAYLOAD_TYPE, payload)).digest();
}

export function signStatement(key: SealingKey, statement: Json): Envelope {
  const payload = Buffer.from(JSON.stringify(statement));
  return { payloadType: PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{ keyid: keyId(key), sig: signature(key, payload).toString('base64') }] };
}

/** The statement an envelope carries, and whether this key signed it. */
export function openEnvelope(key: SealingKey, envelope: Envelope): { statement: Json; signed: boolean } {
  const payload = Buffer.from(envelope.payload ?? '', 'base64');
  const expected = signature(key, payload);
  const signed = (envelope.signatures ?? []).some(({ sig }) => {
    const given = Buffer.from(sig ?? '', 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  let statement: Json;
  try {
    statement = JSON.parse(payload.toString('utf8'));
  } catch {
    statement = {};
  }
  return { statement, signed: signed && envelope.payloadType === PAYLOAD_TYPE };
}

/** What an image is, for checking it against its statement. */
export interface ImageFacts {
  id: string;
  layers: string[];
}

interface Subject {
  annotations?: { image_id?: string; layers?: string[] };
}

/** The tasks a statement names, by the layer each left. */
function taskOfLayer(statement: Json): Map<string, string> {
  const predicate = statement.predicate as { runDetails?: { byproducts?: { name: string; annotations?: { layer?: string | null } }[] } } | undefined;
  const tasks = new Map<string, string>();
  for (const step of predicate?.runDetails?.byproducts ?? []) if (step.annotations?.layer) tasks.set(step.annotations.layer, step.name);
  return tasks;
}

/**
 * The first way `image` differs from what `statement` says of it, in words;
 * undefined when its layers and ID are those the statement names.
 */
export function firstMismatch(statement: Json, image: ImageFacts): string | undefined {
  const subject = ((statement.subject as Subject[] | undefined) ?? [])[0]?.annotations;
  if (statement._type !== STATEMENT_TYPE || statement.predicateType !== PREDICATE_TYPE || !subject?.layers) {
    return 'the provenance document is not an in-toto statement of SLSA provenance v1 as strata writes it';
  }
  const named = subject.layers;
  const tasks = taskOfLayer(statement);
  for (let i = 0; i < Math.max(named.length, image.layers.length); i += 1) {
    if (named[i] === image.layers[i]) continue;
    const what = named[i] ? `${named[i]}${tasks.has(named[i]) ? ` (${tasks.get(named[i])})` : ''}` : 'no layer';
    return `layer ${i + 1} of the image is ${image.layers[i] ?? 'missing'}, but the provenance names ${what}`;
  }
  if (subject.image_id !== image.id) return `the image's ID is ${image.id}, but the provenance was written for ${subject.image_id} (same layers, another config)`;
  return undefined;
}
