// The build runtime: a Python (Debian's, with its standard library, the
// shared libraries it needs and their dynamic loader) and a shell (a static
// BusyBox), mounted read-only into the build containers of a host whose base
// has no Python, so Ansible can run its modules there. It is never part of
// a layer: it is a volume mounted under /dev, which Docker keeps out of every
// commit, mount point included.
//
// It is made once per Docker daemon from Debian packages, in a container of
// a Debian image (STRATA_RUNTIME_FROM, debian:bookworm-slim by default),
// imported as an image of its own (which appears only once complete), and
// copied from that image into the volume build containers mount. Its ID
// names the recipe and the package versions it was made of: a task run with
// another runtime is another task. Once made, it is used until its image is
// removed, whatever becomes of the image it was made in.

import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import type Dockerode from 'dockerode';
import { StrataError } from '../protocol/frames';
import { imageOrPull } from './base-image';
import { dockerCall, followProgress, unlessGone } from './client';
import { engineContainerName, IMAGE_SHELL, removeContainer, RUNTIME_DIR, RuntimeMount } from './containers';

/** The labels of a runtime's image and volume: its ID, and the recipe it was made by. */
export const RUNTIME_LABEL = 'strata.runtime';
const RECIPE_LABEL = 'strata.runtime.recipe';

/** Where the runtime is while it is made, and inside its image. */
const STAGING_DIR = '/runtime';

/** What the engine needs to mount a runtime and to say which one ran a task. */
export interface MountedRuntime extends RuntimeMount {
  /** Names the recipe and the packages it was made of: a different runtime is a different task. */
  id: string;
}

/**
 * Made in the builder as root. Python's standard library and the shared
 * libraries its binary and extension modules link, with the loader that
 * binds them; the wrapper runs the binary through that loader with argv[0]
 * set to itself, so sys.executable is a command that works in the container
 * and Python finds its library next to it.
 */
const RECIPE = `set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends python3.11 busybox-static >/dev/null
out=${STAGING_DIR}
mkdir -p $out/bin $out/lib
cp /usr/bin/python3.11 $out/bin/
cp -a /usr/lib/python3.11 $out/lib/
(cd $out/lib/python3.11 && rm -rf test idlelib tkinter turtledemo ensurepip lib2to3 pydoc_data config-3.11-* sitecustomize.py site-packages)
loader=$(ldd /usr/bin/python3.11 | awk '$1 ~ /^\\// && $2 ~ /^\\(/ {print $1}')
for f in $out/bin/python3.11 $out/lib/python3.11/lib-dynload/*.so; do ldd "$f"; done \\
  | awk '$2 == "=>" && $3 ~ /^\\// {print $3}' | sort -u | while read -r lib; do cp -L "$lib" $out/lib/; done
cp -L "$loader" $out/lib/
cp /bin/busybox $out/bin/busybox
ln -s busybox $out/bin/sh
printf '#!%s\\nexec %s --library-path %s --argv0 "$0" %s "$@"\\n' \\
  ${RUNTIME_DIR}/bin/sh "${RUNTIME_DIR}/lib/\${loader##*/}" ${RUNTIME_DIR}/lib ${RUNTIME_DIR}/bin/python3.11 > $out/bin/python3
chmod 755 $out/bin/python3
dpkg-query -W python3.11 libpython3.11-stdlib libc6 busybox-static | tee $out/VERSIONS
`;

/** Which recipe a runtime image was made by: a newer strata with another recipe makes a new runtime. */
const RECIPE_ID = createHash('sha256').update(RECIPE).digest('hex').slice(0, 16);

/** Runtimes being found or made, per daemon: builds that open hosts at once wait for the same one. */
const inFlight = new WeakMap<Dockerode, Promise<MountedRuntime>>();

/** Where making the runtime is said (the engine's logger is one). */
export interface ProgressLog {
  info(event: string, fields?: Record<string, string | number | boolean | null | undefined>): void;
}

/**
 * The runtime, made first if this daemon has none; `builder` is the Debian
 * image it is made in. Looked up for every host that needs it (two requests),
 * since a volume can be removed between builds.
 */
export function mountedRuntime(docker: Dockerode, builder: string, log: ProgressLog): Promise<MountedRuntime> {
  let runtime = inFlight.get(docker);
  if (!runtime) {
    runtime = findOrMakeRuntime(docker, builder, log);
    inFlight.set(docker, runtime);
    // A failure is said to the builds that asked; the next one tries again.
    void runtime.catch(() => undefined).finally(() => inFlight.delete(docker));
  }
  return runtime;
}

async function findOrMakeRuntime(docker: Dockerode, builder: string, log: ProgressLog): Promise<MountedRuntime> {
  const image = (await runtimeImage(docker)) ?? (await makeRuntimeImage(docker, builder, log));
  const volume = `strata-runtime-${image.id}`;
  const found = await dockerCall('looking for the Python runtime volume', () => unlessGone(docker.getVolume(volume).inspect()));
  if (found?.Labels?.[RUNTIME_LABEL] !== image.id) {
    // Not filled by strata (Docker makes an empty one for a build container that mounts a removed volume).
    if (found) await dockerCall('removing an empty Python runtime volume', () => docker.getVolume(volume).remove());
    await fillVolume(docker, volume, image);
  }
  return { id: image.id, volume, python: `${RUNTIME_DIR}/bin/python3`, shell: `${RUNTIME_DIR}/bin/sh` };
}

interface RuntimeImage {
  imageId: string;
  /** The runtime's ID, from its image's label. */
  id: string;
}

/** The newest runtime image of this recipe, if Docker has one. */
async function runtimeImage(docker: Dockerode): Promise<RuntimeImage | undefined> {
  const images = await dockerCall('looking for the Python runtime', () => docker.listImages({ filters: { label: [`${RECIPE_LABEL}=${RECIPE_ID}`] } }));
  const newest = images.sort((a, b) => b.Created - a.Created)[0];
  const id = newest?.Labels?.[RUNTIME_LABEL];
  return newest && id ? { imageId: newest.Id, id } : undefined;
}

async function makeRuntimeImage(docker: Dockerode, builder: string, log: ProgressLog): Promise<RuntimeImage> {
  await imageOrPull(
    docker,
    builder,
    (why) =>
      `strata makes the Python runtime it mounts into images without Python from Debian packages, in a container of ${builder}, ` +
      `which Docker does not have and could not pull (${why}). Pull or build a Debian bookworm image ` +
      'and name it with STRATA_RUNTIME_FROM, or set strata_python: image for hosts whose base has Python.',
  );
  log.info('making the Python runtime for images without Python (once per Docker daemon)', { from: builder });
  const started = Date.now();
  const container = await dockerCall('creating the container that makes the Python runtime', () =>
    docker.createContainer({ name: engineContainerName('runtime-maker'), Image: builder, Entrypoint: [], Cmd: [IMAGE_SHELL, '-c', RECIPE], User: '0' }),
  );
  try {
    const made = await runToEnd(docker, container);
    if (made.code !== 0) {
      throw new StrataError(
        'docker_error',
        `making the Python runtime in a container of ${builder} failed (exit ${made.code}): ${made.stderr.trim().slice(-2000)}; ` +
          'it needs a Debian bookworm image that reaches a Debian mirror (STRATA_RUNTIME_FROM names it)',
      );
    }
    // The package versions the recipe printed: the same recipe on the same packages is the same runtime.
    const id = createHash('sha256').update(RECIPE_ID).update(made.stdout).digest('hex').slice(0, 16);
    const archive = await dockerCall('reading the Python runtime', () => container.getArchive({ path: STAGING_DIR }));
    await dockerCall('importing the Python runtime', async () =>
      followProgress(
        docker,
        await docker.importImage(archive, { repo: 'strata-runtime', tag: id, changes: [`LABEL ${RUNTIME_LABEL}=${id} ${RECIPE_LABEL}=${RECIPE_ID}`] }),
      ),
    );
    const image = await runtimeImage(docker);
    if (!image) throw new StrataError('docker_error', 'Docker imported the Python runtime but cannot find it');
    log.info('made the Python runtime', { runtime: image.id, seconds: (Date.now() - started) / 1000 });
    return image;
  } finally {
    await removeContainer(docker, container.id);
  }
}

/** Starts a container and waits for its end: its exit code and what it printed. */
async function runToEnd(docker: Dockerode, container: Dockerode.Container): Promise<{ code: number; stdout: string; stderr: string }> {
  const stream = await dockerCall('attaching to the container that makes the Python runtime', () =>
    container.attach({ stream: true, stdout: true, stderr: true }),
  );
  const said = { stdout: '', stderr: '' };
  const collect = (to: 'stdout' | 'stderr') => new Writable({ write: (chunk: Buffer, _enc, done) => ((said[to] += chunk.toString('utf8')), done()) });
  docker.modem.demuxStream(stream, collect('stdout'), collect('stderr'));
  const ended = new Promise((resolve) => stream.on('end', resolve).on('close', resolve).on('error', resolve));
  await dockerCall('starting the container that makes the Python runtime', () => container.start());
  const { StatusCode } = (await dockerCall('making the Python runtime', () => container.wait())) as { StatusCode: number };
  await ended;
  return { code: StatusCode, ...said };
}

/**
 * Copies the runtime image's files into the volume build containers mount:
 * Docker fills an empty volume from the image of the first container that
 * mounts it, when that container is created. The container never starts.
 */
async function fillVolume(docker: Dockerode, volume: string, image: RuntimeImage): Promise<void> {
  await dockerCall('creating the Python runtime volume', () => docker.createVolume({ Name: volume, Labels: { [RUNTIME_LABEL]: image.id } }));
  const container = await dockerCall('filling the Python runtime volume', () =>
    docker.createContainer({
      name: engineContainerName('runtime-filler'),
      Image: image.imageId,
      Entrypoint: [],
      Cmd: ['strata-never-runs'],
      HostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: STAGING_DIR }] },
    }),
  );
  await removeContainer(docker, container.id);
}
