// The commands Ansible runs in a build container (a module, a file copied
// in), run by the engine through Docker's API: what `docker exec -i` does,
// without starting a docker CLI process for each one.

import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import type Dockerode from 'dockerode';
import { StrataError } from '../protocol/frames';
import { dockerCall } from './client';
import { isOwnBuildContainer } from './containers';

export interface CommandRun {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

/**
 * Runs `command` in `container` (a running build container this engine
 * started) with `stdin` as its whole input, and waits for its end.
 */
export async function runInBuildContainer(docker: Dockerode, container: string, command: string[], user: string | null, stdin: Uint8Array): Promise<CommandRun> {
  if (!isOwnBuildContainer(container)) {
    throw new StrataError('unknown_container', `${JSON.stringify(container)} is not a build container of this engine: exec runs commands only where a task's miss said`);
  }
  const doing = `running a command in build container ${container}`;
  const exec = await dockerCall(doing, () =>
    docker.getContainer(container).exec({ Cmd: command, User: user ?? undefined, AttachStdin: true, AttachStdout: true, AttachStderr: true }),
  );
  const stream = (await dockerCall(doing, () => exec.start({ hijack: true, stdin: true }))) as NodeJS.ReadWriteStream;
  const [stdout, stderr] = await outputOf(docker, stream, stdin);
  return { exitCode: await exitCodeOf(exec, doing), stdout, stderr };
}

/** Writes `stdin` and closes it, and reads the command's stdout and stderr to their end. */
async function outputOf(docker: Dockerode, stream: NodeJS.ReadWriteStream, stdin: Uint8Array): Promise<[Buffer, Buffer]> {
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const out = new PassThrough().on('data', (chunk: Buffer) => stdout.push(chunk));
  const err = new PassThrough().on('data', (chunk: Buffer) => stderr.push(chunk));
  docker.modem.demuxStream(stream, out, err);
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
