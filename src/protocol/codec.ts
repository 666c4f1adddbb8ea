// Turning bytes into checked requests and replies into bytes. Nothing that
// leaves this module as a Request has a field of the wrong type.

import * as msgpackr from 'msgpackr';
import { Packr, Unpackr } from 'msgpackr';
import { CONNECTION_PURPOSES, MAX_FRAME_BYTES, Reply, Request, RequestType, StrataError } from './frames';

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

type FieldKind = 'int' | 'string' | 'string?' | 'bool' | 'map' | 'strings' | 'bytes' | 'bytes?' | 'any';

const REQUEST_FIELDS: Record<RequestType, Record<string, FieldKind>> = {
  hello: { protocol: 'int', client: 'string', purpose: 'string?' },
  open_host: { host: 'string', base: 'string', tags: 'strings', config: 'any', push: 'bool', squash: 'bool', python: 'map' },
  scratch_files: { host: 'string', files: 'map' },
  task: { host: 'string', label: 'string', inputs: 'map', lookup: 'bool', cacheable: 'bool', invalidates: 'bool', secret: 'bool', digest: 'string?', expect: 'string?' },
  task_done: { host: 'string', outcome: 'string', result: 'bytes?' },
  finish_host: { host: 'string' },
  end_build: {},
  exec: { container: 'string', command: 'strings', user: 'string?', stdin: 'bytes' },
};

const TASK_DONE_OUTCOMES = new Set(['commit', 'skip', 'discard']);

/** msgpackr decodes the never-used byte 0xc1 to this marker (untyped in its .d.ts) rather than failing. */
const RESERVED_BYTE_MARKER = (msgpackr as unknown as { C1: object }).C1;

function holdsReservedByte(value: unknown): boolean {
  if (value === RESERVED_BYTE_MARKER) return true;
  if (Array.isArray(value)) return value.some(holdsReservedByte);
  if (isMap(value)) return Object.values(value).some(holdsReservedByte);
  return false;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function fits(kind: FieldKind, value: unknown): boolean {
  switch (kind) {
    case 'int':
      return Number.isInteger(value);
    case 'string':
      return typeof value === 'string';
    case 'string?':
      return value === null || value === undefined || typeof value === 'string';
    case 'bool':
      return typeof value === 'boolean';
    case 'map':
      return isMap(value);
    case 'strings':
      return Array.isArray(value) && value.every((v) => typeof v === 'string');
    case 'bytes':
      return value instanceof Uint8Array;
    case 'bytes?':
      return value === null || value === undefined || value instanceof Uint8Array;
    case 'any':
      return true;
  }
}

function badFrame(message: string): StrataError {
  return new StrataError('bad_frame', `malformed frame: ${message}`);
}

/** Decodes one frame into a Request, or throws a `bad_frame` StrataError saying what is wrong. */
export function decodeRequest(bytes: Uint8Array): Request {
  if (bytes.length > MAX_FRAME_BYTES) throw badFrame(`${bytes.length} bytes is over the ${MAX_FRAME_BYTES}-byte limit`);
  let frame: unknown;
  try {
    const values = unpackr.unpackMultiple(bytes) as unknown[];
    if (values.length !== 1) throw new Error(`${values.length} values where one map belongs`);
    frame = values[0];
  } catch (err) {
    throw badFrame(`not msgpack (${(err as Error).message})`);
  }
  if (holdsReservedByte(frame)) throw badFrame('not msgpack (it holds the reserved byte 0xc1)');
  if (!isMap(frame)) throw badFrame('a frame must be a msgpack map');
  if (!Number.isInteger(frame.id)) throw badFrame('field "id" must be an integer');
  const type = frame.type;
  if (typeof type !== 'string' || !(type in REQUEST_FIELDS)) {
    throw badFrame(`unknown request type ${JSON.stringify(type)}; known: ${Object.keys(REQUEST_FIELDS).join(', ')}`);
  }
  for (const [field, kind] of Object.entries(REQUEST_FIELDS[type as RequestType])) {
    if (!fits(kind, frame[field])) throw badFrame(`field "${field}" of "${type}" must be ${kind}`);
  }
  if (type === 'task_done' && !TASK_DONE_OUTCOMES.has(frame.outcome as string)) {
    throw badFrame(`task_done outcome must be one of ${[...TASK_DONE_OUTCOMES].join(', ')}`);
  }
  if (type === 'hello' && frame.purpose != null && !(CONNECTION_PURPOSES as readonly string[]).includes(frame.purpose as string)) {
    throw badFrame(`hello purpose must be one of ${CONNECTION_PURPOSES.join(', ')}`);
  }
  if (type === 'exec' && (frame.command as string[]).length === 0) throw badFrame('exec command must name a program');
  if (type === 'open_host' && frame.config === undefined) frame.config = null;
  if (type === 'task_done' && frame.result === undefined) frame.result = null;
  return frame as unknown as Request;
}

/** The id of a frame that failed to decode, when it can still be read; 0 otherwise. */
export function salvageId(bytes: Uint8Array): number {
  try {
    const frame = unpackr.unpack(bytes);
    return isMap(frame) && Number.isInteger(frame.id) ? (frame.id as number) : 0;
  } catch {
    return 0;
  }
}

/** Byte values longer than this travel in a reply as pieces of their own. */
const PIECE_BYTES = 64 * 1024;

/**
 * The msgpack of a reply, in pieces to send as one message: a long byte
 * value (a hit's stored result, a command's stdout) is a piece of its own,
 * the very buffer the reply holds, not a copy of it. The pieces join into
 * exactly the map msgpack makes: its header, then each key and value packed.
 */
export function encodeReply(reply: Reply): Uint8Array[] {
  const fields = Object.entries(reply);
  if (!fields.some(([, value]) => isLongBytes(value))) return [packr.pack(reply)];
  const pieces: Uint8Array[] = [];
  let packed: Uint8Array[] = [mapHeader(fields.length)];
  for (const [key, value] of fields) {
    packed.push(packr.pack(key));
    if (isLongBytes(value)) {
      pieces.push(Buffer.concat([...packed, binHeader(value.length)]), value);
      packed = [];
    } else {
      packed.push(packr.pack(value));
    }
  }
  if (packed.length) pieces.push(Buffer.concat(packed));
  return pieces;
}

function isLongBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length > PIECE_BYTES;
}

/** msgpack's map 32 header. */
function mapHeader(size: number): Buffer {
  const head = Buffer.alloc(5);
  head[0] = 0xdf;
  head.writeUInt32BE(size, 1);
  return head;
}

/** msgpack's bin 32 header. */
function binHeader(length: number): Buffer {
  const head = Buffer.alloc(5);
  head[0] = 0xc6;
  head.writeUInt32BE(length, 1);
  return head;
}

/** Encodes any plain value; used for stored results and by tests that play the client. */
export function encodeValue(value: unknown): Buffer {
  return packr.pack(value);
}

export function decodeValue(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}
