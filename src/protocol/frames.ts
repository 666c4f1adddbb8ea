// The frames of the strata protocol: the single source of truth for every
// module that reads or writes one. docs/PROTOCOL.md explains them in prose.

export const PROTOCOL_VERSION = 9;

/**
 * Largest frame the engine accepts, in bytes. A task's result travels in one
 * frame, packed, and Ansible sets no limit of its own, so this is set by what
 * the engine can hold: the frame, and one copy of the result (README: "What
 * a large result costs").
 */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

export type Plain = null | boolean | number | string | Uint8Array | Plain[] | { [key: string]: Plain };
export type PlainMap = { [key: string]: Plain };

export interface HelloRequest {
  id: number;
  type: 'hello';
  protocol: number;
  client: string;
  /**
   * `build` (the default): the connection is a build. `exec`: it only runs
   * commands (`exec`) in the build containers of other connections, for an
   * Ansible worker process; it is no build, and its end ends none.
   */
  purpose?: ConnectionPurpose | null;
}

export const CONNECTION_PURPOSES = ['build', 'exec'] as const;
export type ConnectionPurpose = (typeof CONNECTION_PURPOSES)[number];

export interface OpenHostRequest {
  id: number;
  type: 'open_host';
  host: string;
  base: string;
  tags: string[];
  /** The host's `strata_config` as the inventory gave it; the engine checks its shape. */
  config: Plain;
  /** strata_push: push the final image's tags. */
  push: boolean;
  /** strata_squash: the final image as one layer over the base. */
  squash: boolean;
  /** strata_python, and the interpreter Ansible would run modules with. */
  python: PythonChoice;
  /** The host's SOURCE_DATE_EPOCH, if set, and where it was set (the variable's name); the engine checks the value. */
  source_date_epoch?: { value: Plain; from: string } | null;
}

/** Which Python runs Ansible's modules in a host's build containers. */
export interface PythonChoice {
  /** `auto`: the mounted runtime when the base lacks `interpreter`; `mounted`: always; `image`: never. */
  use: string;
  interpreter: string;
}

export const PYTHON_USES = ['auto', 'mounted', 'image'] as const;

/** Files (name: text) to place in every build container's scratch directory before a task runs there. */
export interface ScratchFilesRequest {
  id: number;
  type: 'scratch_files';
  host: string;
  files: { [name: string]: string };
}

export interface TaskRequest {
  id: number;
  type: 'task';
  host: string;
  label: string;
  inputs: PlainMap;
  lookup: boolean;
  /** False: the task is never taken from the cache nor stored in it (a one-off fingerprint). */
  cacheable: boolean;
  /**
   * The task and every later one of the host run (`_cacheable: false`). Any
   * other task that is not cacheable breaks the chain only when it changes a file.
   */
  invalidates: boolean;
  secret: boolean;
  /** The plugin's digest of this request's other fields: what later builds recognise it by in `ahead`. */
  digest?: string | null;
  /** The fingerprint of the hit the plugin took from `ahead` and replayed without waiting for this reply. */
  expect?: string | null;
}

export type TaskDoneOutcome = 'commit' | 'skip' | 'discard';

export interface TaskDoneRequest {
  id: number;
  type: 'task_done';
  host: string;
  outcome: TaskDoneOutcome;
  /** The result map as msgpack, raw-deflated: kept as it is, and handed back so on a hit. */
  result: Uint8Array | null;
}

export interface FinishHostRequest {
  id: number;
  type: 'finish_host';
  host: string;
  /** What the final image's provenance names that only the plugin knows. */
  provenance?: BuildInputs | null;
}

/** The build's inputs as the plugin knows them, for the final image's provenance (src/cache/provenance.ts). */
export interface BuildInputs {
  ansible_core: string;
  playbooks: string[];
  inventories: string[];
  /** The playbook, role and task files that decided the host's tasks, relative to the playbook's folder. */
  files: { path: string; sha256: string }[];
}

/** One command, run to its end in a running build container of this engine, as `docker exec -i` would. */
export interface ExecRequest {
  id: number;
  type: 'exec';
  /** A build container's name, as a task's miss named it. */
  container: string;
  /** The program and its arguments (no shell of its own). */
  command: string[];
  /** The user to run it as; null: the container's. */
  user?: string | null;
  /** Everything the command reads on its stdin, which then ends. */
  stdin: Uint8Array;
}

/** The build is over: the engine removes its containers, then answers. */
export interface EndBuildRequest {
  id: number;
  type: 'end_build';
}

export type Request =
  | HelloRequest
  | OpenHostRequest
  | ScratchFilesRequest
  | TaskRequest
  | TaskDoneRequest
  | FinishHostRequest
  | EndBuildRequest
  | ExecRequest;
export type RequestType = Request['type'];

export interface HelloReply {
  protocol: number;
  engine: string;
  docker_host: string;
}

export interface OpenHostReply {
  base_id: string;
  /** The runtime mounted into the host's build containers, if its modules run with that Python. */
  runtime: RuntimeReply | null;
}

export interface RuntimeReply {
  /** Runs Python: the interpreter for Ansible's modules. */
  python: string;
  /** A shell (BusyBox) whose commands work in any image. */
  shell: string;
  /** Whether the image has /bin/sh of its own; without one, Ansible's shell must be `shell`. */
  image_shell: boolean;
}

/** A hit the engine sees coming: the task that followed this link last time, and is cached. */
export interface HitAhead {
  /** The `digest` the task was sent with; the plugin's task must have the same to take this hit. */
  digest: string;
  fingerprint: string;
  /** The stored result, packed as the plugin sent it. */
  result: Uint8Array;
  saved_seconds: number;
}

export type TaskReply =
  | { outcome: 'hit'; fingerprint: string; result: Uint8Array; saved_seconds: number; ahead?: HitAhead[] }
  | { outcome: 'miss'; fingerprint: string; container: string; scratch: string };

export interface TaskDoneReply {
  image: string | null;
  /** Whether the commit added a layer (a task that changed no file adds none). */
  new_layer: boolean;
  layer_bytes: number;
  seconds: number;
}

export interface FinishHostReply {
  image: string;
  tags: string[];
  /** Tags pushed to their registries (strata_push). */
  pushed: string[];
}

export interface ExecReply {
  exit_code: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
}

export type ErrorCode =
  | 'bad_frame'
  | 'protocol_mismatch'
  | 'unknown_host'
  | 'base_missing'
  | 'bad_config'
  | 'docker_unavailable'
  | 'docker_error'
  | 'state'
  | 'cache_changed'
  | 'unknown_container';

export type OkReply = { id: number; type: 'ok' } & (
  | HelloReply
  | OpenHostReply
  | TaskReply
  | TaskDoneReply
  | FinishHostReply
  | ExecReply
  | Record<string, never>
);

export interface ErrorReply {
  id: number;
  type: 'error';
  code: ErrorCode;
  message: string;
}

export type Reply = OkReply | ErrorReply;

/** An error that travels to the client as an `error` reply. */
export class StrataError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StrataError';
  }
}
