// The engine's side of a build container's exec agent (exec_agent.py, which
// says why it exists and what its frames are): requests written to the
// container's attached stdin, replies read from its stdout.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StrataError } from '../protocol/frames';
import type { CommandRun } from './exec';

/** The agent's Python source (copied beside this module by the build), sent first on the container's stdin. */
export const AGENT_SOURCE = readFileSync(join(__dirname, 'exec_agent.py'));

/**
 * What the container's Python runs: the agent's source, read from stdin and
 * run. Not the source itself on the command line, which every layer's history
 * would keep (Docker records a commit's command as its "created by").
 * `-c` puts the working directory first on the path: nothing is imported from there.
 */
export const AGENT_BOOTSTRAP = `import sys; del sys.path[0]; exec(compile(sys.stdin.buffer.read(${AGENT_SOURCE.length}), "strata-exec-agent", "exec"))`;

/** What a container's first line says once it is ready: the agent runs, or only the shell. */
export const READY_PREFIX = 'strata-build-container-ready ';
export type ReadyAs = 'agent' | 'shell';

const REQUEST_HEADER = 12;
const REPLY_HEADER = 16;

/** Encodes one request frame (see exec_agent.py). */
export function requestFrame(id: number, command: string[], user: string | null, stdin: Uint8Array): Buffer {
  const header = Buffer.from(JSON.stringify({ argv: command, user }), 'utf8');
  const head = Buffer.alloc(REQUEST_HEADER);
  head.writeUInt32BE(id, 0);
  head.writeUInt32BE(header.length, 4);
  head.writeUInt32BE(stdin.byteLength, 8);
  return Buffer.concat([head, header, stdin]);
}

/** Collects the agent's output and cuts it into replies, however Docker chunks it. */
export class ReplyReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly onReply: (id: number, run: CommandRun) => void) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.takeReply());
  }

  private takeReply(): boolean {
    if (this.buffered < REPLY_HEADER) return false;
    const head = this.peek(REPLY_HEADER);
    const outLength = head.readUInt32BE(8);
    const errLength = head.readUInt32BE(12);
    const size = REPLY_HEADER + outLength + errLength;
    if (this.buffered < size) return false;
    const whole = this.take(size);
    this.onReply(whole.readUInt32BE(0), {
      exitCode: whole.readInt32BE(4),
      stdout: whole.subarray(REPLY_HEADER, REPLY_HEADER + outLength),
      stderr: whole.subarray(REPLY_HEADER + outLength, size),
    });
    return true;
  }

  private peek(size: number): Buffer {
    if (this.chunks[0].length < size) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0];
  }

  private take(size: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.chunks = all.length > size ? [all.subarray(size)] : [];
    this.buffered -= size;
    return all.subarray(0, size);
  }
}

interface Pending {
  resolve: (run: CommandRun) => void;
  reject: (err: Error) => void;
}

/** One container's agent: runs commands in it, any number at a time. */
export class ExecAgent {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private gone: Error | undefined;
  readonly replies = new ReplyReader((id, run) => this.settle(id, run));

  constructor(
    private readonly stdin: NodeJS.WritableStream,
    readonly containerName: string,
  ) {}

  run(command: string[], user: string | null, stdin: Uint8Array): Promise<CommandRun> {
    if (this.gone) return Promise.reject(this.gone);
    const id = this.nextId++;
    return new Promise<CommandRun>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.stdin.write(requestFrame(id, command, user, stdin));
    });
  }

  /** The container's stdin or stdout ended: every command still running fails with `why`. */
  end(why: string): void {
    this.gone ??= new StrataError('docker_error', `build container ${this.containerName} ${why}`);
    for (const { reject } of this.pending.values()) reject(this.gone);
    this.pending.clear();
  }

  private settle(id: number, run: CommandRun): void {
    this.pending.get(id)?.resolve(run);
    this.pending.delete(id);
  }
}
