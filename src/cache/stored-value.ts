// How a task's result and fingerprint inputs are kept in an image label:
// msgpack, deflated, base64. A no_log task's values are sealed with AES-GCM
// under a key that never leaves this machine, so neither `docker inspect`, nor
// a pushed image, nor a log shows them.

import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, linkSync, lstatSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
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

/** `value` as label text: sealed under `sealWith` when given, else only packed. */
export function storeValue(value: unknown, sealWith: SealingKey | undefined): string {
  const packed = deflateRawSync(encodeValue(value));
  if (!sealWith) return PLAIN_PREFIX + packed.toString('base64');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealWith.bytes(), iv);
  const sealed = Buffer.concat([cipher.update(packed), cipher.final()]);
  return SEALED_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64');
}

/**
 * The stored value, or undefined when it cannot be read here: absent,
 * damaged, or sealed under another key. A key file that cannot be read is
 * not one of those, and throws.
 */
export function loadValue(text: string | undefined, key: SealingKey): unknown {
  if (!text) return undefined;
  if (text.startsWith(PLAIN_PREFIX)) return unpack(Buffer.from(text.slice(PLAIN_PREFIX.length), 'base64'));
  if (!text.startsWith(SEALED_PREFIX)) return undefined;
  const raw = Buffer.from(text.slice(SEALED_PREFIX.length), 'base64');
  const secret = key.bytes();
  let packed: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', secret, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    packed = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
  } catch {
    return undefined; // sealed under another key, or altered: either way not readable here
  }
  return unpack(packed);
}

function unpack(packed: Buffer): unknown {
  try {
    return decodeValue(inflateRawSync(packed));
  } catch {
    return undefined; // damaged: not a value strata stored
  }
}
