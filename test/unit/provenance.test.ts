// The provenance document's pure parts: its shape, its signature, the check
// of an image against it, and the SOURCE_DATE_EPOCH a host may give.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firstMismatch, openEnvelope, PREDICATE_TYPE, provenanceStatement, ProvenanceFacts, signStatement, STATEMENT_TYPE } from '../../src/cache/provenance';
import { SealingKey } from '../../src/cache/stored-value';
import { parseSourceDateEpoch } from '../../src/docker/timestamps';
import { StrataError } from '../../src/protocol/frames';

const layer = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const key = new SealingKey('the cache key', '/nonexistent/secret.key');

const facts: ProvenanceFacts = {
  host: 'web',
  image: { id: `sha256:${'f'.repeat(64)}`, tags: ['shop/web:1'], layers: [layer(1), layer(2), layer(3)] },
  base: { ref: 'debian:bookworm', id: `sha256:${'b'.repeat(64)}`, digests: [], layers: [layer(1)] },
  strata: '0.1.0',
  build: 'b1',
  startedOn: new Date(0),
  finishedOn: new Date(1000),
  epoch: 1700000000,
  squash: false,
  inputs: { ansible_core: '2.14.18', playbooks: ['site.yml'], inventories: ['inventory.yml'], files: [{ path: 'templates/a.j2', sha256: 'c'.repeat(64) }] },
  steps: [
    { position: 0, action: 'copy', label: 'copy dest=/a', fingerprint: 'd'.repeat(64), cached: true, layer: layer(2) },
    { position: 1, action: 'command', label: 'command true', fingerprint: 'e'.repeat(64), cached: false, layer: null },
    { position: 2, action: 'template', label: 'template dest=/b', fingerprint: '9'.repeat(64), cached: false, layer: layer(3) },
  ],
};

describe('a provenance statement', () => {
  it('is an in-toto statement of SLSA provenance v1 naming the base, ansible-core, files and each task', () => {
    const statement = provenanceStatement(facts) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(statement._type, STATEMENT_TYPE);
    assert.equal(statement.predicateType, PREDICATE_TYPE);
    assert.equal(statement.subject[0].digest.sha256, 'f'.repeat(64));
    const [base, file] = statement.predicate.buildDefinition.resolvedDependencies;
    assert.equal(base.annotations.image_id, facts.base.id);
    assert.deepEqual(file, { name: 'templates/a.j2', uri: 'file:templates/a.j2', digest: { sha256: 'c'.repeat(64) } });
    assert.equal(statement.predicate.runDetails.builder.version['ansible-core'], '2.14.18');
    assert.deepEqual(
      statement.predicate.runDetails.byproducts.map((b: { annotations: { cached: boolean; layer: string | null } }) => [b.annotations.cached, b.annotations.layer]),
      [[true, layer(2)], [false, null], [false, layer(3)]],
    );
  });

  it('is signed under the cache key: an altered payload, or another key, does not pass', () => {
    const envelope = signStatement(key, provenanceStatement(facts));
    assert.equal(openEnvelope(key, envelope).signed, true);
    assert.equal(openEnvelope(new SealingKey('another key', '/nonexistent/secret.key'), envelope).signed, false);
    const altered = JSON.parse(Buffer.from(envelope.payload, 'base64').toString());
    altered.predicate.runDetails.byproducts[2].annotations.cached = true;
    assert.equal(openEnvelope(key, { ...envelope, payload: Buffer.from(JSON.stringify(altered)).toString('base64') }).signed, false);
  });
});

describe('an image checked against its provenance', () => {
  const statement = provenanceStatement(facts);

  it('passes with the layers and ID it names', () => {
    assert.equal(firstMismatch(statement, { id: facts.image.id, layers: facts.image.layers }), undefined);
  });

  it('fails at the first layer that differs, naming the task that made the expected one', () => {
    const mismatch = firstMismatch(statement, { id: `sha256:${'0'.repeat(64)}`, layers: [layer(1), layer(7), layer(3)] });
    assert.equal(mismatch, `layer 2 of the image is ${layer(7)}, but the provenance names ${layer(2)} (task 1: copy dest=/a)`);
  });

  it('fails on a layer more or fewer, and on the same layers under another config', () => {
    assert.match(firstMismatch(statement, { id: facts.image.id, layers: [...facts.image.layers, layer(8)] })!, /layer 4 of the image is .*, but the provenance names no layer/);
    assert.match(firstMismatch(statement, { id: facts.image.id, layers: facts.image.layers.slice(0, 2) })!, /layer 3 of the image is missing/);
    assert.match(firstMismatch(statement, { id: `sha256:${'0'.repeat(64)}`, layers: facts.image.layers })!, /same layers, another config/);
  });

  it('refuses a document that is not strata\'s provenance', () => {
    assert.match(firstMismatch({ _type: 'x' }, { id: facts.image.id, layers: [] })!, /not an in-toto statement/);
  });
});

describe('SOURCE_DATE_EPOCH', () => {
  it('is a whole number of seconds, as a number or its digits', () => {
    assert.equal(parseSourceDateEpoch('web', { value: 1700000000, from: 'SOURCE_DATE_EPOCH' }), 1700000000);
    assert.equal(parseSourceDateEpoch('web', { value: ' 0 ', from: 'SOURCE_DATE_EPOCH' }), 0);
    assert.equal(parseSourceDateEpoch('web', null), undefined);
  });

  it('refuses anything else, naming the host and the variable', () => {
    for (const value of ['yesterday', '-1', '1.5', '', 1.5, '99999999999999', true]) {
      assert.throws(
        () => parseSourceDateEpoch('web', { value, from: 'strata_source_date_epoch' }),
        (err: unknown) => err instanceof StrataError && err.code === 'bad_config' && /^host web: strata_source_date_epoch must be a whole number/.test(err.message),
        String(value),
      );
    }
  });
});
