// One place that knows how to reach the Docker daemon and how to say so when
// it cannot be reached.

import './defer-modules';
import Dockerode from 'dockerode';
import { StrataError } from '../protocol/frames';

export function connectDocker(): Dockerode {
  // docker-modem reads DOCKER_HOST (and DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) itself.
  return new Dockerode();
}

const UNREACHABLE_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ECONNRESET', 'EHOSTUNREACH', 'ETIMEDOUT', 'EPIPE']);

/** True when `err` says the daemon itself could not be reached, not that a request failed. */
export function isDockerUnreachable(err: unknown): boolean {
  return UNREACHABLE_CODES.has((err as { code?: string }).code ?? '');
}

/** The address a failed connection tried, written as DOCKER_HOST would write it. */
function triedAddress(err: unknown): string | undefined {
  const { address, port } = err as { address?: string; port?: number };
  if (!address) return undefined;
  return port ? `tcp://${address}:${port}` : `unix://${address}`;
}

export function dockerUnavailable(err: unknown): StrataError {
  const code = (err as { code?: string }).code ?? '';
  const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied on its socket' : (err as Error).message;
  const at = triedAddress(err);
  return new StrataError(
    'docker_unavailable',
    `cannot reach the Docker daemon${at ? ` at ${at}` : ''} (${why}). ` +
      'Start it (`make setup` starts dockerd), make its socket readable by this user, or point DOCKER_HOST at a running daemon.',
  );
}

/** What Docker said, without docker-modem's "(HTTP code 500) server error - " prefix. */
export function dockerMessage(err: unknown): string {
  const json = (err as { json?: { message?: string } | null }).json;
  const text = (json && typeof json === 'object' && json.message) || (err as Error).message || String(err);
  return text.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim();
}

/** Rethrows `err` as a StrataError a user can act on. */
export function explainDockerError(err: unknown, doing: string): StrataError {
  if (err instanceof StrataError) return err;
  if (isDockerUnreachable(err)) return dockerUnavailable(err);
  const status = (err as { statusCode?: number }).statusCode;
  return new StrataError('docker_error', `Docker failed while ${doing}${status ? ` (HTTP ${status})` : ''}: ${dockerMessage(err)}`);
}

/** Runs a Docker call, turning whatever it throws into a StrataError that names what we were doing. */
export async function dockerCall<T>(doing: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw explainDockerError(err, doing);
  }
}

/** Whether Docker answered that the image, container or tag does not exist. */
export function isNotFound(err: unknown): boolean {
  return (err as { statusCode?: number }).statusCode === 404;
}

/** What `call` gives, or undefined when Docker says the thing it asked about does not exist. */
export async function unlessGone<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Removes an image or tag; one that is already gone is no failure. */
export async function removeImageIfPresent(docker: Dockerode, ref: string): Promise<void> {
  try {
    await docker.getImage(ref).remove();
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/**
 * Waits for a pull, push, import or build to end: its messages. Docker
 * reports a failure inside the stream (a message with `error`) as well as by
 * breaking it; both reject with Docker's words, after `doing failed: ` if given.
 */
export function followProgress<M extends { error?: string }>(docker: Dockerode, stream: NodeJS.ReadableStream, doing?: string): Promise<M[]> {
  return new Promise((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, out: M[]) => {
      const failure = err?.message ?? out.find((m) => m.error)?.error;
      if (failure) reject(new Error(doing ? `${doing} failed: ${failure}` : failure));
      else resolve(out);
    }),
  );
}

/** An image ID as Docker writes it (`sha256:<hex>`); Podman's commit leaves the prefix off. */
export function fullImageId(id: string): string {
  return id.startsWith('sha256:') ? id : `sha256:${id}`;
}

const podmanCheck = new WeakMap<Dockerode, Promise<boolean>>();

/** Whether the daemon is Podman's Docker-compatible service (its /version says so). */
export function isPodman(docker: Dockerode): Promise<boolean> {
  let known = podmanCheck.get(docker);
  if (!known) {
    known = docker.version().then(
      (v) => (v as { Components?: { Name: string }[] }).Components?.some((c) => /podman/i.test(c.Name)) ?? false,
      () => false,
    );
    podmanCheck.set(docker, known);
  }
  return known;
}
