// An image that holds one file and is never run: how strata keeps a value
// Docker should store and a registry should carry beside the images (a large
// stored result, a provenance document). It is made with `docker import` and
// read back through the archive API of a container that is never started.

import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { dockerCall, followProgress, unlessGone } from './client';
import { removeContainer } from './containers';
import { labelInstructions } from './dockerfile';
import { fileOfTar, tarOfOneFile } from './tar';

const FILE = 'value';

/** Makes `repo:tag`, an image whose one file is `parts`, with `labels`. */
export async function importFileImage(docker: Dockerode, repo: string, tag: string, parts: Uint8Array[], labels: Record<string, string>, doing: string): Promise<void> {
  const progress = await dockerCall(doing, () =>
    docker.importImage(Readable.from(tarOfOneFile(FILE, parts)) as unknown as NodeJS.ReadableStream, { repo, tag, changes: labelInstructions(labels) } as object),
  );
  await followProgress(docker, progress, doing);
}

/** The file an image made by importFileImage holds; undefined when there is no such image. */
export async function readFileImage(docker: Dockerode, ref: string): Promise<Buffer | undefined> {
  // Never started: the container only lends its filesystem to the archive API.
  const container = await unlessGone(docker.createContainer({ Image: ref, Cmd: [FILE] }));
  if (!container) return undefined;
  try {
    return await fileOfTar((await container.getArchive({ path: `/${FILE}` })) as unknown as AsyncIterable<Buffer>);
  } finally {
    await removeContainer(docker, container.id);
  }
}
