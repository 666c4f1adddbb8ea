// The few tar archives strata writes and reads itself: a one-file layer (a
// blob, see src/cache/blob-store.ts), the manifest and config `docker load`
// takes, and the first file of an archive the archive API returns.

const BLOCK = 512;

/** A ustar archive holding one regular file whose content is `parts`, as the pieces to send (`parts` not copied). */
export function tarOfOneFile(name: string, parts: Uint8Array[]): Uint8Array[] {
  return [...fileEntry(name, parts), Buffer.alloc(2 * BLOCK)];
}

/** A ustar archive of regular files, each `name: content`, in order. */
export function tarOfFiles(files: Record<string, Uint8Array>): Buffer {
  return Buffer.concat([...Object.entries(files).flatMap(([name, data]) => fileEntry(name, [data])), Buffer.alloc(2 * BLOCK)]);
}

/** One file's header, content and padding. */
function fileEntry(name: string, parts: Uint8Array[]): Uint8Array[] {
  const size = parts.reduce((total, part) => total + part.length, 0);
  const header = Buffer.alloc(BLOCK);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100, 'ascii');
  header.write('0000000\0', 108, 'ascii');
  header.write('0000000\0', 116, 'ascii');
  header.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  header.write('00000000000\0', 136, 'ascii');
  header.write('        ', 148, 'ascii');
  header.write('0', 156, 'ascii');
  header.write('ustar\0' + '00', 257, 'ascii');
  const sum = header.reduce((total, byte) => total + byte, 0);
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  const padding = Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
  return [header, ...parts, padding];
}

/**
 * The content of the first regular file in a tar archive, read as it
 * streams in: into one buffer of the file's size, the rest not read.
 */
export async function fileOfTar(tar: AsyncIterable<Uint8Array>): Promise<Buffer | undefined> {
  let pending = Buffer.alloc(0);
  let file: Buffer | undefined;
  let filled = 0;
  /** Bytes of the entries before the file still to pass over. */
  let skip = 0;
  for await (const chunk of tar) {
    let data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (data.length > 0) {
      if (file) {
        const taken = data.copy(file, filled, 0, file.length - filled);
        filled += taken;
        if (filled === file.length) return file;
        data = data.subarray(taken);
      } else if (skip > 0) {
        const passed = Math.min(skip, data.length);
        skip -= passed;
        data = data.subarray(passed);
      } else {
        const wanted = BLOCK - pending.length;
        pending = Buffer.concat([pending, data.subarray(0, wanted)]);
        data = data.subarray(wanted);
        if (pending.length < BLOCK) continue;
        const header = pending;
        pending = Buffer.alloc(0);
        if (header.every((byte) => byte === 0)) return undefined;
        const size = parseInt(header.subarray(124, 136).toString('ascii').replace(/\0.*$/, '').trim() || '0', 8);
        const type = String.fromCharCode(header[156] || 0x30);
        if (type === '0' || type === '\0') {
          file = Buffer.allocUnsafe(size);
          if (size === 0) return file;
        } else {
          skip = Math.ceil(size / BLOCK) * BLOCK;
        }
      }
    }
  }
  return undefined;
}
