// Running a command in a container to its end, through Docker's exec API:
// what `docker exec -i` does, without a docker CLI process. The commands
// Ansible runs in a build container (a module, a file copied in) come this
// way, and so do strata's own (scratch files, stopping a task's processes).

import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import type Dockerode from 'dockerode';
import { dockerCall } from './client';

export interface CommandRun {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** Runs `command` in a running container with `stdin` as its whole input, and waits for its end. */
export async function runToEnd(container: Dockerode.Container, command: string[], user: string | null, stdin: Uint8Array, doing: string): Promise<CommandRun> {
  const exec = await dockerCall(doing, () =>
    container.exec({ Cmd: command, User: user ?? undefined, AttachStdin: true, AttachStdout: true, AttachStderr: true }),
  );
  const stream = (await dockerCall(doing, () => exec.start({ hijack: true, stdin: true }))) as NodeJS.ReadWriteStream;
  const [stdout, stderr] = await outputOf(container.modem, stream, stdin);
  return { exitCode: await exitCodeOf(exec, doing), stdout, stderr };
}

/** Writes `stdin` and closes it, and reads the command's stdout and stderr to their end. */
async function outputOf(modem: Dockerode['modem'], stream: NodeJS.ReadWriteStream, stdin: Uint8Array): Promise<[Buffer, Buffer]> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const out = new PassThrough().on('data', (chunk: Buffer) => stdout.push(chunk));
  const err = new PassThrough().on('data', (chunk: Buffer) => stderr.push(chunk));
  modem.demuxStream(stream, out, err);
  // The demuxed streams end after the last of what they were given has been read.
  const endBoth = () => {
    out.end();
    err.end();
  };
  stream.on('end', endBoth);
  stream.on('close', endBoth);
  const failed = new Promise<never>((_resolve, reject) => stream.on('error', reject));
  stream.end(Buffer.from(stdin.buffer, stdin.byteOffset, stdin.byteLength));
  await Promise.race([Promise.all([finished(out), finished(err)]), failed]);
  return [Buffer.concat(stdout), Buffer.concat(stderr)];
}

/** The exit code, once Docker has it (the output can end a moment before the exec does). */
async function exitCodeOf(exec: Dockerode.Exec, doing: string): Promise<number> {
  for (;;) {
    const info = await dockerCall(doing, () => exec.inspect());
    if (!info.Running && info.ExitCode !== null) return info.ExitCode;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
