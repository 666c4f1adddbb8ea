// The engine holds the keys to the Docker socket: whatever talks to it must
// be harmless, and whatever happens to a build (interrupted, engine killed,
// Docker gone, two at once) must leave the cache whole and no container behind.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { listEntries } from '../../src/cache/catalog';
import { decodeValue, encodeValue } from '../../src/protocol/codec';
import { MAX_FRAME_BYTES, PROTOCOL_VERSION } from '../../src/protocol/frames';
import {
  BASE_IMAGE,
  buildContainers,
  command,
  copyProject,
  docker,
  Engine,
  eventually,
  playbook,
  removeImages,
  serve,
  startPlaybook,
  strata,
  strataLines,
  unique,
  writeInventory,
} from './harness';

const made: { tags: string[]; hosts: string[] } = { tags: [], hosts: [] };
after(() => removeImages(made.tags, made.hosts));

/** A raw WebSocket to an engine; `headers` undefined sends the right token. */
function connect(engine: Engine, headers?: Record<string, string>): Promise<WebSocket> {
  const ws = new WebSocket(engine.address, { headers: headers ?? { authorization: `Bearer ${engine.token}` } });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

/** Sends one frame and waits for the reply and, if it comes, the close. */
function exchange(ws: WebSocket, frame: Buffer | string): Promise<{ reply: Record<string, unknown>; closed: boolean }> {
  return new Promise((resolve) => {
    let reply: Record<string, unknown> = {};
    ws.once('message', (data: Buffer) => {
      reply = decodeValue(data) as Record<string, unknown>;
      setTimeout(() => resolve({ reply, closed: ws.readyState !== WebSocket.OPEN }), 300);
    });
    ws.send(frame);
  });
}

async function hello(engine: Engine): Promise<Record<string, unknown>> {
  const ws = await connect(engine);
  const { reply } = await exchange(ws, encodeValue({ id: 1, type: 'hello', protocol: PROTOCOL_VERSION, client: 'test' }));
  ws.close();
  return reply;
}

/** A fresh copy of the small fixture; `tasks` more copy tasks make a longer build. */
function small(tasks = 0): { dir: string; host: string } {
  const host = unique('engine');
  made.hosts.push(host);
  made.tags.push(`strata-e2e/${host}:latest`);
  const dir = copyProject('test/fixtures/small');
  writeInventory(dir, { images: { [host]: { strata_from: BASE_IMAGE, strata_image: `strata-e2e/${host}:latest` } } });
  if (tasks) {
    const extra = Array.from({ length: tasks }, (_, i) => `    - copy: {content: "${i}\\n", dest: /extra-${i}}\n`).join('');
    const site = join(dir, 'site.yml');
    appendFileSync(site, extra);
  }
  return { dir, host };
}

/** Starts a build in its own process group and resolves `reached` once its output shows `count` built tasks. */
function buildUntil(dir: string, host: string, count: number, env: Record<string, string> = {}) {
  let signal: () => void = () => undefined;
  const reached = new Promise<void>((resolve) => (signal = resolve));
  const build = startPlaybook(dir, env, (out) => {
    if (strataLines(out, host).filter((l) => l.startsWith('built')).length >= count) signal();
  });
  const failed = build.ended.then((run) => {
    throw new Error(`the build ended before ${count} tasks were built:\n${run.out}`);
  });
  failed.catch(() => undefined);
  return { child: build.child, reached: Promise.race([reached, failed]), exited: build.ended };
}

const noBuildContainers = () => eventually(async () => (await buildContainers()).length === 0);

/** The directories private engines' sockets live in (the plugin's mkdtemp names). */
const engineSocketDirs = () => readdirSync(tmpdir()).filter((name) => /^strata-[a-z0-9_]{8}$/.test(name));

/** Every cache entry of a host is whole: its tag, fingerprint label and stored result agree. */
async function assertEntriesIntact(host: string): Promise<number> {
  const entries = await listEntries(docker, host);
  for (const entry of entries) {
    const labels = (await docker.getImage(entry.tag).inspect()).Config.Labels ?? {};
    assert.equal(labels['strata.fingerprint'], entry.fingerprint);
    assert.match(labels['strata.result'] ?? '', /^(z1|e1):/);
  }
  return entries.length;
}

describe('the socket', () => {
  it('a unix socket is made mode 0600, and TCP listens on loopback unless told otherwise', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-sock-'));
    const onUnix = await serve(['--listen', `unix:${join(dir, 'engine.sock')}`]);
    try {
      assert.equal(statSync(join(dir, 'engine.sock')).mode & 0o777, 0o600);
      assert.equal(onUnix.address, `ws+unix://${join(dir, 'engine.sock')}`);
      assert.equal((await hello(onUnix)).type, 'ok');
    } finally {
      await onUnix.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    const onTcp = await serve();
    try {
      assert.match(onTcp.address, /^ws:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      await onTcp.stop();
    }
  });

  it('refuses a connection without the right token before reading a frame', async () => {
    const engine = await serve();
    try {
      await assert.rejects(connect(engine, {}), /HTTP 401/);
      await assert.rejects(connect(engine, { authorization: 'Bearer wrong' }), /HTTP 401/);
      assert.match(engine.log(), /refused a connection without the right token/);
    } finally {
      await engine.stop();
    }
  });

  it('checks the protocol version on hello and names both versions', async () => {
    const engine = await serve();
    try {
      const ws = await connect(engine);
      const { reply, closed } = await exchange(ws, encodeValue({ id: 1, type: 'hello', protocol: 99, client: 'old' }));
      assert.equal(reply.code, 'protocol_mismatch');
      assert.match(String(reply.message), new RegExp(`protocol 99 but this engine .* speaks ${PROTOCOL_VERSION}`));
      assert.ok(closed);
    } finally {
      await engine.stop();
    }
  });

  it('answers bad frames with an error, closes that connection, and goes on serving others', async () => {
    const engine = await serve();
    try {
      const bad: [string, Buffer | string][] = [
        ['text', 'hello'],
        ['not msgpack', Buffer.from([0xc1, 0xff, 0x00])],
        ['truncated', encodeValue({ id: 4, type: 'hello', protocol: 1, client: 'x' }).subarray(0, 10)],
        ['unknown type', encodeValue({ id: 5, type: 'rm', host: 'x' })],
        ['before hello', encodeValue({ id: 6, type: 'finish_host', host: 'x' })],
        ['oversized', Buffer.concat([encodeValue({ id: 7, type: 'hello' }), Buffer.alloc(MAX_FRAME_BYTES)])],
      ];
      for (const [what, frame] of bad) {
        const ws = await connect(engine);
        const { reply, closed } = await exchange(ws, frame);
        assert.equal(reply.type, 'error', what);
        assert.equal(reply.code, 'bad_frame', what);
        assert.ok(closed, `${what}: the connection is closed`);
      }
      assert.equal((await hello(engine)).type, 'ok', 'the engine still serves');
    } finally {
      await engine.stop();
    }
  });
});

describe('commands for a worker', () => {
  it('run only in build containers of this engine, and a connection for them sends nothing else', async () => {
    const engine = await serve();
    const outsider = unique('strata-e2e-outsider');
    command('docker', ['run', '-d', '--name', outsider, BASE_IMAGE, 'sleep', 'infinity']);
    try {
      const ws = await connect(engine);
      const greeted = await exchange(ws, encodeValue({ id: 1, type: 'hello', protocol: PROTOCOL_VERSION, client: 'test', purpose: 'exec' }));
      assert.equal(greeted.reply.type, 'ok');
      // A container of no engine, and one named as another engine's build container.
      for (const container of [outsider, `strata-build-00000000-1-ab-${outsider}-000000`]) {
        const { reply } = await exchange(ws, encodeValue({ id: 2, type: 'exec', container, command: ['touch', '/touched'], user: null, stdin: new Uint8Array() }));
        assert.equal(reply.code, 'unknown_container', container);
        assert.match(String(reply.message), /not a build container of this engine/);
      }
      assert.equal(command('docker', ['exec', outsider, 'sh', '-c', 'test -e /touched || echo untouched']), 'untouched\n');
      const python = { use: 'auto', interpreter: '/usr/bin/python3' };
      const { reply } = await exchange(ws, encodeValue({ id: 3, type: 'open_host', host: 'h', base: BASE_IMAGE, tags: [], config: null, push: false, squash: false, python }));
      assert.equal(reply.code, 'state');
      ws.close();
    } finally {
      command('docker', ['rm', '-f', outsider]);
      await engine.stop();
    }
  });
});

describe('exposing an engine', () => {
  /** `strata serve` that should refuse to start: its output, or a failure if it is still up after 20 s. */
  // An engine that starts when it should refuse would serve forever: 20 s is plenty to refuse.
  const serveFails = (args: string[], env: Record<string, string> = {}) => strata(['serve', ...args], env, 20_000);

  it('refuses a non-loopback address without TLS unless told it is unsafe, and an empty token', async () => {
    const refused = serveFails(['--listen', '0.0.0.0:0']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.out, /reachable from other machines.*--tls-cert.*--insecure-plaintext/s);
    const empty = serveFails(['--token', '']);
    assert.notEqual(empty.code, 0);
    assert.match(empty.out, /token from --token is empty/);
    const emptyEnv = serveFails([], { STRATA_TOKEN: '' });
    assert.match(emptyEnv.out, /token from STRATA_TOKEN is empty/);
    assert.match(serveFails(['--token', '   ']).out, /token from --token is empty/);
    // The token is printed as `export STRATA_TOKEN=...` for a shell: one word.
    assert.match(serveFails(['--token', 'two words here and more']).out, /holds spaces or characters outside printable ASCII/);
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'strata-token-')), 'token');
    writeFileSync(tokenFile, randomBytes(24).toString('hex'));
    assert.match(serveFails(['--token', randomBytes(24).toString('hex'), '--token-file', tokenFile]).out, /give the token once/);
    writeFileSync(`${tokenFile}.pem`, 'not a certificate\n');
    const badPem = serveFails(['--tls-cert', `${tokenFile}.pem`, '--tls-key', `${tokenFile}.pem`]);
    assert.notEqual(badPem.code, 0);
    assert.match(badPem.out, new RegExp(`--tls-cert ${tokenFile}\\.pem and --tls-key ${tokenFile}\\.pem are not a PEM certificate`));
    const opened = await serve(['--listen', '0.0.0.0:0', '--insecure-plaintext', '--token', 'short']);
    try {
      assert.match(opened.address, /^ws:\/\/0\.0\.0\.0:\d+$/);
      assert.match(opened.log(), /the token is short/);
    } finally {
      await opened.stop();
    }
    assert.match(strata(['serve', '--help']).out, /What the token grants/);
  });

  it('serves wss:// with a certificate, reads the token from a file, and a build goes through it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-tls-'));
    const [cert, key, tokenFile] = ['cert.pem', 'key.pem', 'token'].map((f) => join(dir, f));
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    writeFileSync(tokenFile, `${randomBytes(24).toString('hex')}\n`);
    const engine = await serve(['--listen', '127.0.0.1:0', '--tls-cert', cert, '--tls-key', key, '--token-file', tokenFile]);
    try {
      assert.match(engine.address, /^wss:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(engine.token, readFileSync(tokenFile, 'utf8').trim());
      const { dir: project, host } = small();
      const run = playbook(project, [], { STRATA_ENGINE: engine.address, STRATA_TOKEN: engine.token, STRATA_TLS_CA: cert });
      assert.equal(run.code, 0, run.out);
      assert.match(strataLines(run.out, host)[0], /^built/);
    } finally {
      await engine.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('listening on a unix path removes only a stale socket: never a file, never a live engine\'s socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-sock-'));
    try {
      const file = join(dir, 'notes.txt');
      writeFileSync(file, 'keep me\n');
      const onFile = serveFails(['--listen', `unix:${file}`]);
      assert.notEqual(onFile.code, 0);
      assert.match(onFile.out, /is not a socket/);
      assert.equal(readFileSync(file, 'utf8'), 'keep me\n');

      const path = join(dir, 'engine.sock');
      const first = await serve(['--listen', `unix:${path}`]);
      try {
        const second = serveFails(['--listen', `unix:${path}`]);
        assert.notEqual(second.code, 0);
        assert.match(second.out, /already listening/);
        assert.equal((await hello(first)).type, 'ok', 'the first engine is still reachable');
      } finally {
        await first.stop();
      }

      // A live listener that cannot take one more connection now (its backlog is full) is still live.
      const busy = join(dir, 'busy.sock');
      const listener = spawn('python3', ['-c', [
        'import socket, sys, time',
        `s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(busy)}); s.listen(0)`,
        'held = []',
        'while True:',
        '    c = socket.socket(socket.AF_UNIX); c.setblocking(False)',
        '    try: c.connect(s.getsockname())',
        '    except BlockingIOError: break',
        '    held.append(c)',
        'print("full", flush=True); time.sleep(60)',
      ].join('\n')]);
      try {
        await new Promise((resolve) => listener.stdout.once('data', resolve));
        const onBusy = serveFails(['--listen', `unix:${busy}`]);
        assert.notEqual(onBusy.code, 0, onBusy.out);
        assert.match(onBusy.out, /already listening/);
        assert.ok(statSync(busy).isSocket(), 'the busy listener keeps its socket');
      } finally {
        listener.kill('SIGKILL');
      }

      // A socket file nothing listens on, as a killed engine leaves it.
      const stale = join(dir, 'stale.sock');
      const left = spawnSync('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(stale)})`]);
      assert.equal(left.status, 0);
      const reused = await serve(['--listen', `unix:${stale}`]);
      try {
        assert.equal((await hello(reused)).type, 'ok');
      } finally {
        await reused.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('builds that end badly', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} to ansible-playbook leaves no container and no half-written entry`, async () => {
      const { dir, host } = small(6);
      const socketDirsBefore = engineSocketDirs();
      const build = buildUntil(dir, host, 2);
      await build.reached;
      process.kill(-build.child.pid!, signal);
      const run = await build.exited;
      assert.notEqual(run.code, 0);
      assert.ok(await noBuildContainers(), `containers left: ${(await buildContainers()).join(', ')}`);
      const leftBehind = () => engineSocketDirs().filter((name) => !socketDirsBefore.includes(name));
      assert.ok(await eventually(async () => leftBehind().length === 0), `engine socket directories left: ${leftBehind().join(', ')}`);
      const entries = await assertEntriesIntact(host);
      assert.ok(entries >= 2, 'what was committed before the interrupt stays');
      const again = playbook(dir);
      assert.equal(again.code, 0, again.out);
      assert.deepEqual(strataLines(again.out, host).slice(0, 2), ['cached', 'cached']);
    });
  }

  it('killing the engine (SIGKILL) fails the build, its containers end with it, and the next build resumes from the cache', async () => {
    const { dir, host } = small(6);
    const engine = await serve(['--log-level', 'warn']);
    const build = buildUntil(dir, host, 2, { STRATA_ENGINE: engine.address, STRATA_TOKEN: engine.token });
    await build.reached;
    engine.process.kill('SIGKILL');
    const run = await build.exited;
    assert.notEqual(run.code, 0);
    assert.match(run.out, /lost the connection to the engine|cannot reach the engine/);
    // No other engine has started to reap them: they must end by themselves.
    assert.ok(await noBuildContainers(), `containers outlived their engine: ${(await buildContainers()).join(', ')}`);
    const committed = await assertEntriesIntact(host);
    const again = playbook(dir);
    assert.equal(again.code, 0, again.out);
    const lines = strataLines(again.out, host);
    assert.deepEqual(lines.slice(0, committed), Array(committed).fill('cached'));
    assert.ok(await noBuildContainers());
  });

  it('Docker going away mid-build fails the build clearly; the next build works once it is back', async () => {
    const { dir, host } = small(6);
    const proxyDir = mkdtempSync(join(tmpdir(), 'strata-proxy-'));
    const socket = join(proxyDir, 'docker.sock');
    const open = new Set<Socket>();
    const startProxy = () =>
      new Promise<Server>((resolve) => {
        // Half-open sockets: docker exec shuts its input down and still reads the output.
        const server = createServer({ allowHalfOpen: true }, (client) => {
          const upstream = createConnection({ path: '/var/run/docker.sock', allowHalfOpen: true });
          for (const s of [client, upstream]) {
            open.add(s);
            s.on('close', () => open.delete(s));
            s.on('error', () => undefined);
          }
          client.pipe(upstream).pipe(client);
        });
        server.listen(socket, () => resolve(server));
      });
    let proxy = await startProxy();
    const env = { DOCKER_HOST: `unix://${socket}` };
    const build = buildUntil(dir, host, 2, env);
    await build.reached;
    await new Promise<void>((resolve) => {
      proxy.close(() => resolve());
      for (const s of open) s.destroy();
    });
    const run = await build.exited;
    assert.notEqual(run.code, 0);
    assert.match(run.out, /docker daemon/i);
    proxy = await startProxy();
    try {
      // Not playbook(): a synchronous run would block this process, which is the proxy.
      const again = await buildUntil(dir, host, 0, env).exited;
      assert.equal(again.code, 0, again.out);
      assert.ok(await noBuildContainers());
    } finally {
      proxy.close();
      for (const s of open) s.destroy();
      rmSync(proxyDir, { recursive: true, force: true });
    }
  });
});

describe('two builds at once', () => {
  it('both succeed and leave one consistent cache', async () => {
    const { dir, host } = small(4);
    const first = buildUntil(dir, host, 0);
    const second = buildUntil(dir, host, 0);
    const [a, b] = await Promise.all([first.exited, second.exited]);
    assert.equal(a.code, 0, a.out);
    assert.equal(b.code, 0, b.out);
    const entries = await assertEntriesIntact(host);
    assert.equal(entries, 6, 'one entry per task, whichever build committed it');
    const third = playbook(dir);
    assert.ok(strataLines(third.out, host).every((l) => l === 'cached'), third.out);
    assert.ok(await noBuildContainers());
  });
});
