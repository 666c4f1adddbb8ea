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

/**
 * Collects the agent's output and cuts it into replies, however Docker
 * chunks it: each reply is copied once, as it arrives, into one buffer of its
 * size (a command's 50 MB of stdout costs 50 MB, not its chunks and a copy).
 */
export class ReplyReader {
  /** The reply being filled, once its header is known, and how much of it is. */
  private reply: Buffer | undefined;
  private filled = 0;
  /** Bytes of a header not yet whole. */
  private head = Buffer.alloc(0);

  constructor(private readonly onReply: (id: number, run: CommandRun) => void) {}

  push(chunk: Buffer): void {
    while (chunk.length > 0) {
      if (!this.reply) {
        const wanted = REPLY_HEADER - this.head.length;
        this.head = Buffer.concat([this.head, chunk.subarray(0, wanted)]);
        chunk = chunk.subarray(wanted);
        if (this.head.length < REPLY_HEADER) return;
        this.reply = Buffer.allocUnsafe(REPLY_HEADER + this.head.readUInt32BE(8) + this.head.readUInt32BE(12));
        this.filled = this.head.copy(this.reply);
        this.head = Buffer.alloc(0);
      }
      const taken = chunk.copy(this.reply, this.filled);
      this.filled += taken;
      chunk = chunk.subarray(taken);
      if (this.filled === this.reply.length) this.deliver(this.reply);
    }
  }

  private deliver(whole: Buffer): void {
    this.reply = undefined;
    const outLength = whole.readUInt32BE(8);
    this.onReply(whole.readUInt32BE(0), {
      exitCode: whole.readInt32BE(4),
      stdout: whole.subarray(REPLY_HEADER, REPLY_HEADER + outLength),
      stderr: whole.subarray(REPLY_HEADER + outLength),
    });
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
