// `strata_config`: the image config a host's final image gets. It is checked
// when the host opens, so a typo fails the build before any task runs, and it
// is applied after the last task, so changing it never re-runs one.

import { Plain, StrataError } from '../protocol/frames';

export interface ImageConfig {
  cmd?: string[];
  entrypoint?: string[];
  env?: Record<string, string>;
  ports?: string[];
  user?: string;
  workdir?: string;
  labels?: Record<string, string>;
  volumes?: string[];
  stop_signal?: string;
}

const KEYS = ['cmd', 'entrypoint', 'env', 'ports', 'user', 'workdir', 'labels', 'volumes', 'stop_signal'] as const;
type Key = (typeof KEYS)[number];

class ConfigShapeError extends Error {}

function isScalar(value: unknown): value is string | number | boolean {
  return ['string', 'number', 'boolean'].includes(typeof value);
}

/** A command as Docker stores it: a list as given, a string in shell form. */
function command(value: unknown): string[] {
  if (typeof value === 'string') return ['/bin/sh', '-c', value];
  if (Array.isArray(value) && value.every(isScalar)) return value.map(String);
  throw new ConfigShapeError('must be a string (shell form) or a list of strings');
}

function stringMap(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigShapeError('must be a mapping of names to values');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!isScalar(v)) throw new ConfigShapeError(`value of ${JSON.stringify(k)} must be a string or number`);
    out[k] = String(v);
  }
  return out;
}

function scalar(value: unknown): string {
  if (!isScalar(value) || value === '') throw new ConfigShapeError('must be a non-empty string or number');
  return String(value);
}

function port(value: unknown): string {
  const text = scalar(value);
  if (!/^\d{1,5}(\/(tcp|udp|sctp))?$/.test(text)) throw new ConfigShapeError(`port ${JSON.stringify(text)} must look like 8080 or "53/udp"`);
  return text.includes('/') ? text : `${text}/tcp`;
}

function list<T>(value: unknown, each: (v: unknown) => T): T[] {
  if (!Array.isArray(value)) throw new ConfigShapeError('must be a list');
  return value.map(each);
}

const PARSERS: Record<Key, (value: unknown) => unknown> = {
  cmd: command,
  entrypoint: command,
  env: stringMap,
  ports: (v) => list(v, port),
  user: scalar,
  workdir: scalar,
  labels: stringMap,
  volumes: (v) => list(v, scalar),
  stop_signal: scalar,
};

/** Checks a host's `strata_config` and normalises it; throws `bad_config` naming the host and field. */
export function parseImageConfig(host: string, raw: Plain): ImageConfig {
  if (raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array) {
    throw new StrataError(
      'bad_config',
      `strata_config of host ${host} must be a mapping (for example {cmd: ["nginx"], ports: [80]}), not ${JSON.stringify(raw)}. Fix the inventory.`,
    );
  }
  const config: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!(KEYS as readonly string[]).includes(key)) {
      throw new StrataError(
        'bad_config',
        `strata_config of host ${host} has an unknown key ${JSON.stringify(key)}; the keys are ${KEYS.join(', ')}. Fix the inventory.`,
      );
    }
    try {
      config[key] = PARSERS[key as Key](value);
    } catch (err) {
      if (!(err instanceof ConfigShapeError)) throw err;
      throw new StrataError('bad_config', `strata_config.${key} of host ${host} ${err.message}. Fix the inventory.`);
    }
  }
  return config as ImageConfig;
}
