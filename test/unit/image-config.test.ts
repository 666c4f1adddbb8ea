import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { finalDockerfile } from '../../src/docker/final-image';
import { parseImageConfig } from '../../src/docker/image-config';
import { StrataError } from '../../src/protocol/frames';

function badConfig(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (err: unknown) => err instanceof StrataError && err.code === 'bad_config' && pattern.test(err.message));
}

describe('parseImageConfig', () => {
  it('normalises every key', () => {
    assert.deepEqual(
      parseImageConfig('web', {
        cmd: 'nginx -g "daemon off;"',
        entrypoint: ['/init'],
        env: { A: 1, B: 'two' },
        ports: [80, '53/udp'],
        user: 'app',
        workdir: '/srv',
        labels: { x: 'y' },
        volumes: ['/data'],
        stop_signal: 'SIGQUIT',
      }),
      {
        cmd: ['/bin/sh', '-c', 'nginx -g "daemon off;"'],
        entrypoint: ['/init'],
        env: { A: '1', B: 'two' },
        ports: ['80/tcp', '53/udp'],
        user: 'app',
        workdir: '/srv',
        labels: { x: 'y' },
        volumes: ['/data'],
        stop_signal: 'SIGQUIT',
      },
    );
    assert.deepEqual(parseImageConfig('web', null), {});
  });

  it('names an unknown key, the host and the known keys', () =>
    badConfig(() => parseImageConfig('web', { command: 'x' }), /host web has an unknown key "command"; the keys are cmd, entrypoint/));
  it('refuses a config that is not a mapping', () =>
    badConfig(() => parseImageConfig('web', 'python3 app.py'), /strata_config of host web must be a mapping/));
  it('refuses env that is not a mapping', () => badConfig(() => parseImageConfig('db', { env: ['A=1'] }), /strata_config.env of host db must be a mapping/));
  it('refuses a malformed port', () => badConfig(() => parseImageConfig('web', { ports: ['eighty'] }), /port "eighty"/));
  it('refuses a cmd of the wrong shape', () => badConfig(() => parseImageConfig('web', { cmd: { a: 1 } }), /strata_config.cmd/));
});

describe('finalDockerfile', () => {
  it('falls back to the base image command and quotes values', () => {
    const text = finalDockerfile('sha256:abc', { env: { MSG: 'say "hi" to $USER \\o/' } }, { cmd: ['bash'], entrypoint: null });
    assert.equal(text, 'FROM sha256:abc\nENTRYPOINT []\nCMD ["bash"]\nENV "MSG"="say \\"hi\\" to \\$USER \\\\o/"\n');
  });
  it('refuses a value with a line break', () =>
    badConfig(() => finalDockerfile('x', { env: { A: 'one\ntwo' } }, { cmd: null, entrypoint: null }), /strata_config.env.A contains a line break/));
});
