// `strata history`: every step of an image's history says what made it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LABEL } from '../../src/cache/entries';
import { describeStep, ImageFacts, Step } from '../../src/cli/history';

const final: ImageFacts = { baseSteps: 2, base: 'debian:bookworm-slim', host: 'web', final: true };
const step = (createdBy: string, comment = '', more: Partial<Step> = {}): Step => ({ createdBy, comment, ...more });

describe('a step of a final image', () => {
  it("is its base's, named as strata_from gave it, with Docker's words when the base has several steps", () => {
    assert.deepEqual(describeStep(step('/bin/sh -c #(nop) ADD file:abc in / '), 0, final), {
      kind: 'base',
      madeBy: 'base image debian:bookworm-slim (strata_from of web): ADD file:abc in /',
    });
    assert.deepEqual(describeStep(step('', 'Imported from -'), 0, { ...final, baseSteps: 1, base: 'strata-base:bookworm' }), {
      kind: 'base',
      madeBy: 'base image strata-base:bookworm (strata_from of web)',
    });
  });

  it("is a task's, from its cache entry", () => {
    const entry = { [LABEL.task]: 'copy dest=/x', [LABEL.host]: 'web', [LABEL.fingerprint]: 'f'.repeat(64) };
    assert.deepEqual(describeStep(step('sleep', 'strata: web: copy dest=/x', { entry }), 2, final), {
      kind: 'task',
      madeBy: 'copy dest=/x',
      host: 'web',
      fingerprint: 'f'.repeat(64),
    });
    assert.deepEqual(describeStep(step('sleep', 'strata: web: copy dest=/x'), 2, final), { kind: 'task', madeBy: 'web: copy dest=/x' });
  });

  it('is the config strata_config gave it, after the tasks', () => {
    assert.deepEqual(describeStep(step('bash'), 5, final), { kind: 'config', madeBy: 'image config (strata_config of web)' });
  });

  it('is a squashed or a flattened stand-in for several tasks', () => {
    assert.deepEqual(describeStep(step('strata: 3 task layers squashed into one'), 2, final), {
      kind: 'squashed',
      madeBy: '3 task layers squashed into one (strata_squash)',
    });
    assert.match(describeStep(step('', 'Imported from -', { flattened: 'command true' }), 0, { ...final, baseSteps: 0 }).madeBy, /up to "command true", flattened into one layer/);
  });
});

describe('a step of an image strata did not finish', () => {
  it("is left in Docker's words", () => {
    const image: ImageFacts = { baseSteps: 0, final: false };
    assert.deepEqual(describeStep(step('/bin/sh -c #(nop)  CMD ["bash"]'), 0, image), { kind: 'other', madeBy: 'CMD ["bash"]' });
  });
});
