// Exit codes and the error a command throws to stop with one line for the user.

import { StrataError } from '../protocol/frames';

export enum ExitCode {
  Ok = 0,
  Failure = 1,
  Usage = 2,
  DockerUnavailable = 3,
}

export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.Failure,
  ) {
    super(message);
  }
}

/** A UserError from an engine error, with the exit code its kind deserves. */
export function userErrorFrom(err: unknown): UserError {
  if (err instanceof UserError) return err;
  if (err instanceof StrataError && err.code === 'docker_unavailable') return new UserError(err.message, ExitCode.DockerUnavailable);
  return new UserError((err as Error).message);
}
