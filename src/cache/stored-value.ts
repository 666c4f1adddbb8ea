// How a task's result and fingerprint inputs are kept with a cache entry:
// msgpack, deflated, in base64 in a label or as bytes in a blob. A result
// arrives packed so from the plugin and is kept as it came, never unpacked
// here. A no_log task's values are sealed with AES-GCM under a key that never
// leaves this machine, so neither `docker inspect`, nor a pushed image, nor a
// log shows them.

import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, linkSync, lstatSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { constants as zlibConstants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { decodeValue, encodeValue } from '../protocol/codec';
import { StrataError } from '../protocol/frames';

const PLAIN_PREFIX = 'z1:';
const SEALED_PREFIX = 'e1:';

/** Where the sealing key file lives, under XDG_DATA_HOME (or ~/.local/share). */
export function keyFilePath(dataHome: string | undefined): string {
  return join(dataHome || join(homedir(), '.local', 'share'), 'strata', 'secret.key');
}

const KEY_TEXT = /^[0-9a-fA-F]{64}$/;

/**
 * The 32-byte key no_log values are sealed under: from a passphrase
 * (STRATA_SECRET) when one is given, else from a key file made on first use
 * (mode 0600). Read once, when first needed.
 */
export class SealingKey {
  private key: Buffer | undefined;

  constructor(
    private readonly passphrase: string | undefined,
    readonly file: string,
  ) {}

  bytes(): Buffer {
    if (this.key) return this.key;
    if (this.passphrase) {
      this.key = createHash('sha256').update(this.passphrase).digest();
    } else {
      this.key = keyFromFile(this.file);
    }
    return this.key;
  }

  /**
   * Reads the key file now if anything is at its path, so a damaged one is
   * said before a build runs its first task; a missing one is still made
   * only when a value is first sealed.
   */
  check(): void {
    if (this.passphrase) return;
    try {
      lstatSync(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    }
    this.bytes();
  }
}

/** The key in `path`, made there first if nothing is; any failure names the file and the fix. */
function keyFromFile(path: string): Buffer {
  try {
    if (!existsSync(path)) createKeyFile(path);
    return readKeyFile(path);
  } catch (err) {
    if (err instanceof StrataError) throw err;
    throw new StrataError(
      'bad_config',
      `cannot use the sealing key file ${path} (${(err as Error).message}): ` +
        'remove what is at that path (or make its folder writable) to have strata make a new key there, ' +
        'or set STRATA_SECRET to a passphrase',
    );
  }
}

function readKeyFile(path: string): Buffer {
  const text = readFileSync(path, 'utf8').trim();
  if (!KEY_TEXT.test(text)) {
    throw new StrataError(
      'bad_config',
      `the sealing key file ${path} does not hold a key (64 hex digits; it holds ${text.length} characters): ` +
        'remove it to have strata make a new one (entries sealed under the old key are then rebuilt), ' +
        'or set STRATA_SECRET to a passphrase',
    );
  }
  return Buffer.from(text, 'hex');
}

/**
 * Writes a new key under a temporary name and links it into place: a link
 * appears whole or not at all, so an engine starting at the same moment reads
 * either no key file or a complete one, and the first link wins.
 */
function createKeyFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const draft = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(draft, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
  try {
    linkSync(draft, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(draft);
  }
}

/**
 * A value as strata keeps it: `packed` (its msgpack, raw-deflated), sealed
 * or not. Its label text is `prefix` and the bytes in base64; a blob holds
 * `prefix` and the bytes themselves (src/cache/blob-store.ts).
 */
export interface StoredBytes {
  prefix: typeof PLAIN_PREFIX | typeof SEALED_PREFIX;
  bytes: Uint8Array;
}

/** The raw-deflated msgpack of `value`: the form a task's result arrives in (docs/PROTOCOL.md), and inputs are kept in. */
export function packValue(value: unknown): Buffer {
  return deflateRawSync(encodeValue(value));
}

/** The value `packed` holds, or undefined when it is damaged. */
export function unpackValue(packed: Uint8Array | undefined): unknown {
  if (!packed) return undefined;
  try {
    return decodeValue(inflateRawSync(packed));
  } catch {
    return undefined; // damaged: not a value strata stored
  }
}

/** `packed` as kept: sealed under `sealWith` when given (the ciphertext is a copy), else as it is. */
export function seal(packed: Uint8Array, sealWith: SealingKey | undefined): StoredBytes {
  if (!sealWith) return { prefix: PLAIN_PREFIX, bytes: packed };
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealWith.bytes(), iv);
  const sealed = [cipher.update(packed), cipher.final()];
  return { prefix: SEALED_PREFIX, bytes: Buffer.concat([iv, cipher.getAuthTag(), ...sealed]) };
}

/**
 * The packed value kept as `stored`, or undefined when it cannot be read
 * here: absent, sealed under another key, or not a packed map. A key file
 * that cannot be read is not one of those, and throws.
 */
export function openStored(stored: StoredBytes | undefined, key: SealingKey): Uint8Array | undefined {
  if (!stored) return undefined;
  let packed = stored.bytes;
  if (stored.prefix === SEALED_PREFIX) {
    const raw = Buffer.from(stored.bytes.buffer, stored.bytes.byteOffset, stored.bytes.byteLength);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.bytes(), raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      packed = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
    } catch (err) {
      if (err instanceof StrataError) throw err;
      return undefined; // sealed under another key, or altered: either way not readable here
    }
  }
  return startsWithMap(packed) ? packed : undefined;
}

/**
 * Whether `packed` begins a msgpack map, as every stored result and inputs
 * do; only its first bytes are inflated. (Damage further in shows when the
 * plugin unpacks it; a blob's content is checked against its name.)
 */
function startsWithMap(packed: Uint8Array): boolean {
  let first: Buffer;
  try {
    first = inflateRawSync(packed.subarray(0, 4096), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  } catch {
    return false;
  }
  const byte = first[0];
  return byte !== undefined && ((byte >= 0x80 && byte <= 0x8f) || byte === 0xde || byte === 0xdf);
}

/** The label text of a stored value. */
export function storedText(stored: StoredBytes): string {
  return stored.prefix + Buffer.from(stored.bytes.buffer, stored.bytes.byteOffset, stored.bytes.byteLength).toString('base64');
}

/** Its length, without making it. */
export function storedTextLength(stored: StoredBytes): number {
  return stored.prefix.length + 4 * Math.ceil(stored.bytes.length / 3);
}

/** The stored value a label's text (or an old blob's, see blob-store.ts) holds; undefined for any other text. */
export function parseStoredText(text: string | undefined): StoredBytes | undefined {
  const prefix = text?.slice(0, PLAIN_PREFIX.length);
  if (prefix !== PLAIN_PREFIX && prefix !== SEALED_PREFIX) return undefined;
  return { prefix, bytes: Buffer.from(text!.slice(prefix.length), 'base64') };
}

/** The stored value a blob's file holds: the prefix, then the bytes. */
export function parseStoredFile(file: Buffer): StoredBytes | undefined {
  const prefix = file.subarray(0, PLAIN_PREFIX.length).toString('latin1');
  if (prefix !== PLAIN_PREFIX && prefix !== SEALED_PREFIX) return undefined;
  return { prefix, bytes: file.subarray(prefix.length) };
}
