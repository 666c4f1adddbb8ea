// `docker load` of an image strata wrote itself: its config, and only the
// layer files Docker lacks. Docker skips reading a layer it already has (by
// its chain ID), so an image over layers Docker holds is loaded from its
// config alone.

import type Dockerode from 'dockerode';
import { StrataError } from '../protocol/frames';
import { dockerCall } from './client';

/** Loads an image archive; returns the image ID Docker says it loaded, if it names one (it does when the archive tags nothing). */
export async function loadImageArchive(docker: Dockerode, archive: NodeJS.ReadableStream, doing: string): Promise<string | undefined> {
  const said = await dockerCall(doing, async () => {
    const stream = await docker.loadImage(archive);
    let text = '';
    for await (const chunk of stream as unknown as AsyncIterable<Buffer>) text += chunk.toString();
    return text;
  });
  const found = /Loaded image ID: (sha256:[0-9a-f]{64})|"error":"((?:[^"\\]|\\.)*)"/.exec(said);
  if (found?.[2]) throw new StrataError('docker_error', `Docker refused ${doing}: ${JSON.parse(`"${found[2]}"`)}`);
  return found?.[1];
}
