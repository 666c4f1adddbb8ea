// What a base image has of what Ansible needs in it: the Python its modules
// run with, and /bin/sh. Docker can only say whether a path exists in a
// container, so a container is created (never started) to ask, once per
// image: the answers are kept in a file, since an image ID never changes
// what is in it.

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type Dockerode from 'dockerode';
import { dockerCall, isNotFound } from './client';
import { engineContainerName, IMAGE_SHELL, removeContainer } from './containers';

export interface BaseTools {
  python: boolean;
  shell: boolean;
}

/** The first word of an interpreter setting (`/usr/bin/env python3` runs /usr/bin/env). */
function program(interpreter: string): string {
  return interpreter.trim().split(/\s+/)[0] ?? '';
}

/** The memo of answers, by image ID and path, kept in `file`. */
export class BaseToolsMemo {
  private answers: Promise<Record<string, boolean>> | undefined;

  constructor(private readonly file: string) {}

  async tools(docker: Dockerode, imageId: string, interpreter: string): Promise<BaseTools> {
    const python = program(interpreter);
    const paths = python.startsWith('/') ? [python, IMAGE_SHELL] : [IMAGE_SHELL];
    const known = await this.load();
    const missing = paths.filter((p) => known[`${imageId} ${p}`] === undefined);
    if (missing.length) {
      const found = await probe(docker, imageId, missing);
      missing.forEach((p, i) => (known[`${imageId} ${p}`] = found[i]));
      await this.save(known);
    }
    // A relative interpreter is looked up on the image's PATH, which strata cannot follow: it is trusted.
    return { python: python.startsWith('/') ? known[`${imageId} ${python}`] : true, shell: known[`${imageId} ${IMAGE_SHELL}`] };
  }

  private load(): Promise<Record<string, boolean>> {
    this.answers ??= readFile(this.file, 'utf8').then(
      (text) => JSON.parse(text) as Record<string, boolean>,
      () => ({}),
    );
    return this.answers;
  }

  /** Written whole and renamed into place, so a reader never sees half a file. */
  private async save(known: Record<string, boolean>): Promise<void> {
    try {
      await mkdir(dirname(this.file), { recursive: true });
      const temp = `${this.file}.${process.pid}`;
      await writeFile(temp, JSON.stringify(known));
      await rename(temp, this.file);
    } catch {
      // Without the file, the next engine asks Docker again: slower, not wrong.
    }
  }
}

/** Whether each path exists in the image, asked of a container that is created, never started, and removed. */
async function probe(docker: Dockerode, imageId: string, paths: string[]): Promise<boolean[]> {
  const container = await dockerCall('looking into the base image', () =>
    docker.createContainer({ name: engineContainerName('probe'), Image: imageId, Entrypoint: [], Cmd: ['strata-probe'] }),
  );
  try {
    return await Promise.all(paths.map((path) => exists(container, path)));
  } finally {
    await removeContainer(docker, container.id);
  }
}

async function exists(container: Dockerode.Container, path: string): Promise<boolean> {
  try {
    await container.infoArchive({ path });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
