// The engine's front door: a WebSocket server on loopback TCP or a unix
// socket. It refuses a connection without the token before reading a frame,
// gives every connection its own Build, and turns every failure into an
// error reply rather than a crash, so one bad client never stops the others.

import { timingSafeEqual } from 'node:crypto';
import { chmod, lstat, rm } from 'node:fs/promises';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect } from 'node:net';
import type Dockerode from 'dockerode';
import { WebSocket, WebSocketServer } from 'ws';
import { explainDockerError } from '../docker/client';
import { HostIndexes } from '../cache/image-events';
import { decodeRequest, encodeReply, salvageId } from '../protocol/codec';
import { MAX_FRAME_BYTES, Reply, StrataError } from '../protocol/frames';
import { Logger } from './log';
import { Build } from './build';
import { EngineSettings } from './settings';
import { TasksAhead } from './tasks-ahead';

export interface EngineOptions {
  /** `HOST:PORT` or `unix:/path/to.sock`. */
  listen: string;
  token: string;
  docker: Dockerode;
  settings: EngineSettings;
  log: Logger;
  /** Called when a connection opens (a build, or a worker's that only runs commands). */
  onBuildStarted?: () => void;
  /**
   * Called after a connection has ended: a build's once its containers are
   * gone (`wasBuild`), or one that only ran commands for a worker.
   */
  onBuildEnded?: (wasBuild: boolean) => void;
  /** Serve wss:// with this PEM certificate and key. */
  tls?: { cert: Buffer; key: Buffer };
  /** Builds follow one another on this engine (not --private): keep the hosts' cache indexes between them. */
  keepIndexes?: boolean;
}

export interface RunningEngine {
  /** The address clients use: ws://HOST:PORT or ws+unix:///path. */
  address: string;
  /** Stops accepting, ends every build (removing its containers) and closes. */
  close(): Promise<void>;
}

type ListenTarget = { path: string } | { host: string; port: number };

export function parseListen(listen: string): ListenTarget {
  if (listen.startsWith('unix:')) return { path: listen.slice('unix:'.length) };
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(listen);
  if (!match) throw new Error(`--listen ${JSON.stringify(listen)} must be HOST:PORT (e.g. 127.0.0.1:7700) or unix:/path/to.sock`);
  return { host: match[1].replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function errorReply(id: number, err: unknown, doing = 'answering a request'): Reply {
  // Whatever was not already explained is most likely Docker's; say which part failed.
  const explained = explainDockerError(err, doing);
  return { id, type: 'error', code: explained.code, message: explained.message };
}

function listenOn(server: Server, target: ListenTarget): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if ('path' in target) server.listen(target.path, done);
    else server.listen(target.port, target.host, done);
  });
}

export async function startEngine(opts: EngineOptions): Promise<RunningEngine> {
  const target = parseListen(opts.listen);
  const answer = (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('strata engine: connect with a WebSocket\n');
  };
  const http = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, answer) : createServer(answer);
  const wss = new WebSocketServer({
    server: http,
    // A little over the limit, so a frame a little too big still gets an error reply.
    maxPayload: MAX_FRAME_BYTES + 1024 * 1024,
    verifyClient: (info: { req: IncomingMessage }, accept: (ok: boolean, code?: number, message?: string) => void) => {
      const ok = tokenMatches(info.req.headers.authorization, opts.token);
      if (!ok) opts.log.warn('refused a connection without the right token', { from: info.req.socket.remoteAddress ?? 'unix' });
      accept(ok, 401, 'strata engine: missing or wrong token (set STRATA_TOKEN to the token `strata serve` printed)');
    },
  });
  const builds = new Set<Promise<void>>();
  const indexes = new HostIndexes(opts.docker, opts.keepIndexes ?? false);
  const ahead = new TasksAhead();

  wss.on('connection', (ws: WebSocket) => {
    opts.onBuildStarted?.();
    const build = new Build(opts.docker, opts.settings, indexes, opts.log, ahead);
    const ended = new Promise<void>((resolve) => ws.once('close', () => resolve()))
      .then(() => build.close())
      .then(() => opts.onBuildEnded?.(build.isBuild));
    builds.add(ended);
    void ended.finally(() => builds.delete(ended));
    ws.on('message', (data: Buffer, isBinary: boolean) => void serveFrame(ws, build, data, isBinary, opts.log));
  });

  if ('path' in target) await removeStaleSocket(target.path);
  await listenOn(http, target);
  let address: string;
  if ('path' in target) {
    await chmod(target.path, 0o600);
    address = `ws+unix://${target.path}`;
  } else {
    const bound = http.address();
    const port = typeof bound === 'object' && bound ? bound.port : target.port;
    address = `${opts.tls ? 'wss' : 'ws'}://${target.host.includes(':') ? `[${target.host}]` : target.host}:${port}`;
  }

  return {
    address,
    async close() {
      for (const client of wss.clients) client.close(1001, 'engine shutting down');
      await Promise.all(builds);
      indexes.close();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
      if ('path' in target) await rm(target.path, { force: true });
    },
  };
}

/**
 * Clears the way for a unix socket at `path`: a socket nothing answers on
 * is a dead engine's and goes; anything else stays, and the engine does not start.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let info;
  try {
    info = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!info.isSocket()) {
    throw new Error(`${path} exists and is not a socket; strata removes nothing else: choose another path, or move that file away`);
  }
  if (await answers(path)) {
    throw new Error(`something is already listening on ${path} (another engine?): stop it, or choose another path`);
  }
  await rm(path, { force: true });
}

/**
 * Whether something may still own the socket at `path`. Only "refused" means
 * nothing listens there; any other failure (a full backlog, EAGAIN; a
 * timeout) may be a live listener that is busy or stopped, so it counts as one.
 */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.setTimeout(2000, () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code !== 'ECONNREFUSED'));
  });
}

async function serveFrame(ws: WebSocket, build: Build, data: Buffer, isBinary: boolean, log: Logger): Promise<void> {
  let req;
  try {
    if (!isBinary) throw new StrataError('bad_frame', 'malformed frame: frames must be binary msgpack, not text');
    req = decodeRequest(data);
  } catch (err) {
    log.warn('bad frame; closing the connection', { error: (err as Error).message });
    send(ws, errorReply(isBinary ? salvageId(data) : 0, err));
    ws.close(1008, 'malformed frame');
    return;
  }
  try {
    const payload = await build.handle(req);
    send(ws, { id: req.id, type: 'ok', ...payload } as Reply);
  } catch (err) {
    const reply = errorReply(req.id, err, `answering ${req.type}${'host' in req ? ` for host ${req.host}` : ''}`);
    // The client reports the error to its user; here it is a record, not an alarm.
    log.info('request failed', { request: req.type, host: 'host' in req ? req.host : undefined, error: (err as Error).message });
    send(ws, reply);
    if (reply.type === 'error' && (reply.code === 'protocol_mismatch' || reply.code === 'bad_frame')) ws.close(1008, reply.code);
  }
}

function send(ws: WebSocket, reply: Reply): void {
  if (ws.readyState !== WebSocket.OPEN) return;
  // One message, sent in fragments: a long stored result is not copied into one buffer with the rest.
  const pieces = encodeReply(reply);
  pieces.forEach((piece, i) => ws.send(piece, { binary: true, fin: i === pieces.length - 1 }));
}
