// `strata provenance IMAGE [--json] [--verify]`: how a final image was made,
// from the signed document strata keeps beside it (src/cache/provenance.ts),
// and, with --verify, whether the image still is what the document says
// (`cosign verify-attestation` for a strata cache's key).

import { firstMismatch, keyId, openEnvelope } from '../cache/provenance';
import { FoundProvenance, findProvenance } from '../cache/provenance-store';
import { SealingKey } from '../cache/stored-value';
import { dockerCall } from '../docker/client';
import { readSettings } from '../engine/settings';
import { docker, print, short } from './cache-commands';
import { UserError } from './errors';
import { table } from './format';

interface Options {
  json?: boolean;
  verify?: boolean;
}

/** The parts of the statement the summary shows (see provenanceStatement). */
interface Statement {
  subject: { annotations: { image_id: string; tags: string[]; layers: string[] } }[];
  predicate: {
    buildDefinition: {
      externalParameters: { playbooks: string[]; inventories: string[]; host: string; base: string; source_date_epoch: number | null; squash: boolean };
      resolvedDependencies: { name: string; digest: { sha256: string }; annotations?: { image_id?: string } }[];
    };
    runDetails: {
      builder: { version: Record<string, string> };
      metadata: { invocationId: string; finishedOn: string };
      byproducts: { annotations: { position: number; label: string; fingerprint: string; cached: boolean; layer: string | null } }[];
    };
  };
}

function summary(statement: Statement): string {
  const { subject, predicate } = statement;
  const params = predicate.buildDefinition.externalParameters;
  const [base, ...files] = predicate.buildDefinition.resolvedDependencies;
  const version = predicate.runDetails.builder.version;
  const epoch = params.source_date_epoch;
  const lines = [
    `image:        ${subject[0].annotations.image_id}${subject[0].annotations.tags.length ? ` (${subject[0].annotations.tags.join(', ')})` : ''}`,
    `host:         ${params.host}, from ${params.base} (${base.annotations?.image_id ?? base.digest.sha256})`,
    `built by:     strata ${version.strata}, ansible-core ${version['ansible-core']}, build ${predicate.runDetails.metadata.invocationId}, ${predicate.runDetails.metadata.finishedOn}`,
    `playbooks:    ${params.playbooks.join(' ') || '-'}; inventories: ${params.inventories.join(' ') || '-'}`,
    `reproducible: ${epoch === null ? 'no (SOURCE_DATE_EPOCH unset)' : `SOURCE_DATE_EPOCH=${epoch} (${new Date(epoch * 1000).toISOString()})`}${params.squash ? '; squashed' : ''}`,
    '',
    table(['FILE', 'SHA256'], files.map((file) => [file.name, file.digest.sha256.slice(0, 16)])).trimEnd(),
    '',
    table(
      ['#', 'FROM CACHE', 'LAYER', 'FINGERPRINT', 'TASK'],
      predicate.runDetails.byproducts.map(({ annotations: step }) => [
        String(step.position + 1),
        step.cached ? 'yes' : 'no',
        step.layer ? short(step.layer) : '-',
        short(step.fingerprint),
        step.label,
      ]),
    ),
  ];
  return lines.join('\n');
}

/** The summary, or a UserError when the document is not shaped as strata writes it. */
function summaryOf(image: string, statement: Record<string, unknown>): string {
  try {
    return summary(statement as unknown as Statement);
  } catch {
    throw new UserError(`${image}: its provenance document is not one strata wrote (it lacks the fields strata writes); see it with --json`);
  }
}

/** The first reason `image` is not what its provenance says, checked in order: signature, layers and ID, then the tag's latest build. */
function verificationFailure(key: SealingKey, info: { id: string; layers: string[] }, found: FoundProvenance): string | undefined {
  const { statement, signed } = openEnvelope(key, (found.own ?? found.latestForTag)!);
  if (!signed) {
    return `its provenance is not signed by this cache's key (${keyId(key)}): it was written elsewhere, or altered. Verify it where STRATA_SECRET (or the key file) of the cache that built it is set.`;
  }
  const mismatch = firstMismatch(statement, info);
  if (mismatch) return `it is not the image its provenance describes: ${mismatch}`;
  const latest = found.own && found.latestForTag && openEnvelope(key, found.latestForTag);
  const latestId = latest?.signed ? (latest.statement as unknown as Statement).subject?.[0]?.annotations?.image_id : undefined;
  if (latestId && latestId !== info.id) {
    return `it is not the image strata last built under this tag: that is ${latestId}, and this one (${info.id}) was built before it, or under another tag`;
  }
  return undefined;
}

export async function provenanceCommand(image: string, opts: Options): Promise<void> {
  const client = await docker();
  const inspected = await dockerCall(`reading image ${image}`, () => client.getImage(image).inspect()).catch((err: Error) => {
    throw new UserError(`no image ${image}: ${err.message}. Give a tag or ID that \`docker image ls\` shows.`);
  });
  const info = { id: inspected.Id, layers: inspected.RootFS?.Layers ?? [] };
  const found = await findProvenance(client, image, info.id);
  const envelope = found.own ?? found.latestForTag;
  if (!envelope) {
    throw new UserError(`${image} (${short(info.id)}) has no provenance: strata keeps one for each final image it builds, on the machine that built it (or pulled with it). Build it with strata, or pull <repo>:strata-provenance-<image ID> beside it.`);
  }
  const key = readSettings().sealing;
  if (opts.verify) {
    const failure = verificationFailure(key, info, found);
    if (failure) throw new UserError(`${image}: ${failure}`);
  }
  const { statement } = openEnvelope(key, envelope);
  print(opts.json ? JSON.stringify(statement, null, 2) + '\n' : summaryOf(image, statement));
  if (opts.verify) {
    process.stderr.write(`strata: verified: ${image} (${short(info.id)}) has the ${info.layers.length} layers its provenance names, signed by this cache's key (${keyId(key)})\n`);
  } else if (!found.own) {
    process.stderr.write(`strata: warning: this document was written for another image under the tag ${image}; run with --verify to see what differs\n`);
  }
}
