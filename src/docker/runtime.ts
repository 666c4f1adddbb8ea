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
// copied from that image into the volume build containers mount.

import { createHash } from 'node:crypto';
import type Dockerode from 'dockerode';
import { StrataError } from '../protocol/frames';
import { dockerCall, dockerMessage, followProgress, isNotFound, unlessGone } from './client';
import { engineContainerName, removeContainer, RUNTIME_DIR } from './containers';
import type { Logger } from '../engine/log';

/** The image label naming the recipe (and builder image) a runtime image was made by. */
export const RUNTIME_LABEL = 'strata.runtime';

/** Where the runtime is while it is made, and inside its image. */
const STAGING_DIR = '/runtime';

/** What the engine needs to mount a runtime and to say which one ran a task. */
export interface MountedRuntime {
  /** Names the recipe and the image it was made from: a different runtime is a different task. */
  id: string;
  volume: string;
  /** Runs Python through the runtime's own loader, on any libc or none. */
  python: string;
  /** A shell whose commands (mkdir, dd, rm...) work without any in the image. */
  shell: string;
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
apt-get update -qq
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
dpkg-query -W python3.11 libpython3.11-stdlib libc6 busybox-static > $out/VERSIONS
`;

/** The runtime of each daemon, made or found once per engine. */
const runtimes = new WeakMap<Dockerode, Promise<MountedRuntime>>();

/** The runtime, made first if this daemon has none; `builder` is the Debian image it is made in. */
export function mountedRuntime(docker: Dockerode, builder: string, log: Logger): Promise<MountedRuntime> {
  let runtime = runtimes.get(docker);
  if (!runtime) {
    runtime = findOrMakeRuntime(docker, builder, log);
    // A failure is said to the build that asked; the next one tries again.
    runtime.catch(() => runtimes.delete(docker));
    runtimes.set(docker, runtime);
  }
  return runtime;
}

async function findOrMakeRuntime(docker: Dockerode, builder: string, log: Logger): Promise<MountedRuntime> {
  const builderId = await builderImage(docker, builder);
  const id = createHash('sha256').update(RECIPE).update(builderId).digest('hex').slice(0, 16);
  const volume = `strata-runtime-${id}`;
  if (!(await unlessGone(docker.getVolume(volume).inspect()))) {
    const imageId = (await runtimeImage(docker, id)) ?? (await makeRuntimeImage(docker, builder, id, log));
    await fillVolume(docker, volume, imageId, id);
  }
  return { id, volume, python: `${RUNTIME_DIR}/bin/python3`, shell: `${RUNTIME_DIR}/bin/sh` };
}

async function builderImage(docker: Dockerode, ref: string): Promise<string> {
  const found = await dockerCall(`looking up ${ref}`, () => unlessGone(docker.getImage(ref).inspect()));
  if (found) return found.Id;
  try {
    await followProgress(docker, await docker.pull(ref));
    return (await docker.getImage(ref).inspect()).Id;
  } catch (err) {
    throw new StrataError(
      'base_missing',
      `strata makes the Python runtime it mounts into images without Python from Debian packages, in a container of ${ref}, ` +
        `which Docker does not have and could not pull (${dockerMessage(err)}). Pull or build a Debian bookworm image ` +
        'and name it with STRATA_RUNTIME_FROM, or set strata_python: image for hosts whose base has Python.',
    );
  }
}

async function runtimeImage(docker: Dockerode, id: string): Promise<string | undefined> {
  const images = await dockerCall('looking for the Python runtime', () =>
    docker.listImages({ filters: { label: [`${RUNTIME_LABEL}=${id}`] } }),
  );
  return images[0]?.Id;
}

async function makeRuntimeImage(docker: Dockerode, builder: string, id: string, log: Logger): Promise<string> {
  log.info('making the Python runtime for images without Python (once per Docker daemon)', { runtime: id, from: builder });
  const started = Date.now();
  const container = await dockerCall('creating the container that makes the Python runtime', () =>
    docker.createContainer({ name: engineContainerName('runtime-maker'), Image: builder, Entrypoint: [], Cmd: ['/bin/sh', '-c', RECIPE], User: '0' }),
  );
  try {
    const output = await runToEnd(container);
    if (output.code !== 0) {
      throw new StrataError(
        'docker_error',
        `making the Python runtime in a container of ${builder} failed (exit ${output.code}): ${output.said.trim().slice(-2000)}; ` +
          'it needs a Debian bookworm image that reaches a Debian mirror (STRATA_RUNTIME_FROM names it)',
      );
    }
    const archive = await dockerCall('reading the Python runtime', () => container.getArchive({ path: STAGING_DIR }));
    const imported = await dockerCall('importing the Python runtime', async () =>
      followProgress<{ status?: string; error?: string }>(
        docker,
        await docker.importImage(archive, { repo: 'strata-runtime', tag: id, changes: [`LABEL ${RUNTIME_LABEL}=${id}`] }),
      ),
    );
    const imageId = await runtimeImage(docker, id);
    if (!imageId) throw new StrataError('docker_error', `Docker imported the Python runtime but cannot find it (${JSON.stringify(imported.at(-1))})`);
    log.info('made the Python runtime', { runtime: id, seconds: (Date.now() - started) / 1000 });
    return imageId;
  } finally {
    await removeContainer(docker, container.id);
  }
}

/** Starts a container and waits for its end: its exit code and what it said. */
async function runToEnd(container: Dockerode.Container): Promise<{ code: number; said: string }> {
  const stream = await dockerCall('attaching to the container that makes the Python runtime', () =>
    container.attach({ stream: true, stdout: true, stderr: true }),
  );
  let said = '';
  stream.on('data', (chunk: Buffer) => (said += chunk.toString('utf8')));
  await dockerCall('starting the container that makes the Python runtime', () => container.start());
  const { StatusCode } = (await dockerCall('making the Python runtime', () => container.wait())) as { StatusCode: number };
  return { code: StatusCode, said };
}

/**
 * Copies the runtime image's files into the volume build containers mount:
 * Docker fills an empty volume from the image of the first container that
 * mounts it. A failed copy leaves no volume, so the next build copies again.
 */
async function fillVolume(docker: Dockerode, volume: string, imageId: string, id: string): Promise<void> {
  await dockerCall('creating the Python runtime volume', () => docker.createVolume({ Name: volume, Labels: { [RUNTIME_LABEL]: id } }));
  let container: Dockerode.Container | undefined;
  try {
    container = await dockerCall('filling the Python runtime volume', () =>
      docker.createContainer({
        name: engineContainerName('runtime-filler'),
        Image: imageId,
        Entrypoint: [],
        Cmd: [`${STAGING_DIR}/bin/busybox`, 'true'],
        HostConfig: { Mounts: [{ Type: 'volume', Source: volume, Target: STAGING_DIR }] },
      }),
    );
    await dockerCall('filling the Python runtime volume', () => container!.start());
    await dockerCall('filling the Python runtime volume', () => container!.wait());
  } catch (err) {
    if (container) await removeContainer(docker, container.id);
    await docker.getVolume(volume).remove().catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
    throw err;
  }
  await removeContainer(docker, container.id);
}
