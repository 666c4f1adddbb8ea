// The engine's settings, read from the environment once, where a command
// starts, and handed down: no module below reads process.env. These are the
// engine's own; the plugin reads its settings in
// python_shim/strata_ansible/settings.py. With a shared `strata serve`, these
// come from the environment `strata serve` was started in, not the build's.

import { homedir } from 'node:os';
import { join } from 'node:path';
import { BaseToolsMemo } from '../docker/base-tools';
import { checkImageTags } from '../docker/reference';
import { StrataError } from '../protocol/frames';
import { keyFilePath, SealingKey } from '../cache/stored-value';

export interface EngineSettings {
  /** STRATA_CACHE_REPO: the registry repository machines share as a cache, if any. */
  cacheRepo: string | undefined;
  /** STRATA_SECRET, else the key file under XDG_DATA_HOME: what seals values Ansible hides. */
  sealing: SealingKey;
  /** DOCKER_HOST as the user gave it; docker-modem reads the same variable to connect. */
  dockerHost: string;
  /** STRATA_RUNTIME_FROM: the Debian image the mounted Python runtime is made in. */
  runtimeFrom: string;
  /** What base images have of Python and a shell, kept under XDG_CACHE_HOME. */
  baseTools: BaseToolsMemo;
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): EngineSettings {
  return {
    cacheRepo: checkCacheRepo(env.STRATA_CACHE_REPO || undefined),
    sealing: new SealingKey(env.STRATA_SECRET || undefined, keyFilePath(env.XDG_DATA_HOME)),
    dockerHost: env.DOCKER_HOST || 'unix:///var/run/docker.sock',
    runtimeFrom: env.STRATA_RUNTIME_FROM || 'debian:bookworm-slim',
    baseTools: new BaseToolsMemo(join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'strata', 'base-tools-v1.json')),
  };
}

/** A repository name, or a `bad_config` error saying what one looks like. */
function checkCacheRepo(repo: string | undefined): string | undefined {
  if (!repo) return undefined;
  if (repo.includes('@') || repo.slice(repo.lastIndexOf('/') + 1).includes(':')) {
    throw new StrataError('bad_config', `STRATA_CACHE_REPO=${repo} must be a repository without a tag, like localhost:5000/strata-cache`);
  }
  checkImageTags('(STRATA_CACHE_REPO)', [repo]);
  return repo;
}
