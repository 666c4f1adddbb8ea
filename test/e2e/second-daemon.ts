// A second Docker daemon on this machine, for the end-to-end tests that need
// one (two daemons, one cache each; an engine pointed at another daemon...).
//
// It is a plain `dockerd` with everything of its own under one fresh
// temporary directory, so that it can neither see nor disturb the main
// daemon on /var/run/docker.sock:
//
//   /tmp/strata-d2-XXXXXX/      (mkdtemp; short, as unix socket paths must stay < 108 bytes)
//     docker.sock               its API socket (-H)
//     dockerd.pid               its pid file (--pidfile)
//     dockerd.log               everything dockerd and its containerd print
//     daemon.json               its config file, so a /etc/docker/daemon.json never applies to it
//     key.json                  its own identity (the main daemon's is /etc/docker/key.json)
//     data/                     --data-root: images, containers, its containerd's root
//     exec/                     --exec-root: its containerd's socket and state, network namespaces
//     run/                      an XDG_RUNTIME_DIR (0700) for the strata engines started for it
//
// Its network: a bridge of its own (`strata-d2-XXXX`, on a random
// 10.213.N.1/24), made here with `ip link` and given to dockerd with
// --bridge. Never `--bridge none`: with it dockerd deletes the host's docker0,
// which breaks the main daemon. It is also started with --iptables=false,
// --ip-masq=false and --ip-forward=false, so it adds no firewall rule and
// changes no sysctl: the tests run no networked container on it.
//
// dockerd 20.10 starts a containerd of its own (a "managed" one) when given
// no --containerd, with its socket, state and root under --exec-root and
// --data-root: /tmp/strata-d2-XXXXXX/exec/containerd/containerd.sock next to
// the main daemon's /var/run/docker/containerd/containerd.sock.
//
// Everything here is synchronous (spawnSync and polling), so a test can call
// it from before() and after() as it is.

import { spawn, spawnSync, SpawnSyncReturns } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SecondDaemon {
  /** DOCKER_HOST value for it, e.g. unix:///tmp/strata-d2-xxxx/docker.sock */
  host: string;
  /**
   * The environment to merge into a child process so the docker CLI,
   * dockerode and strata use it: DOCKER_HOST, and an XDG_RUNTIME_DIR of its
   * own (mode 0700), so builds start a per-user strata engine of its own
   * instead of reusing one that talks to the main daemon.
   */
  env: Record<string, string>;
  /** Copies images (by name) from the main daemon into this one: `docker save NAME... | docker -H host load`, which keeps their image IDs. */
  copyImages(names: string[]): void;
  /**
   * Stops the daemon and leaves nothing of it behind: the strata engines
   * started for it, dockerd itself (SIGTERM, up to 20 s, then SIGKILL), any
   * containerd, shim or container process of its own still running, every
   * mount under its directory, its bridge, and its directory. Safe to call
   * twice; also called when the process exits.
   */
  stop(): void;
}

/** The main daemon: what copyImages() reads from, whatever DOCKER_HOST the calling process has. */
const MAIN_HOST = 'unix:///var/run/docker.sock';
/** How long dockerd has to answer once started. */
const START_SECONDS = 30;
/** How long dockerd (and then each engine) has to end after SIGTERM before it is killed. */
const STOP_SECONDS = 20;

/** Blocks this thread for `ms` (the tests call this from synchronous before() and after() hooks). */
function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Runs a command to completion (killed after `timeoutMs`). */
function run(program: string, args: string[], timeoutMs = 60_000): SpawnSyncReturns<string> {
  return spawnSync(program, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
}

/** Runs a command that must succeed; its stdout. */
function must(program: string, args: string[]): string {
  const result = run(program, args);
  if (result.status !== 0) throw new Error(`${program} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr || result.error?.message}`);
  return result.stdout;
}

/** The fields of /proc/PID/stat after the command name: [0] is the state, [19] the start time. Undefined once the process is gone. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Whether a process has ended: gone, or a zombie nobody reaped yet (dockerd is our child, and this thread is blocked while we wait). */
function hasEnded(pid: number): boolean {
  const stat = procStat(pid);
  return stat === undefined || stat[0] === 'Z';
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/** SIGTERM, up to `seconds` to end, then SIGKILL: whether it had to be killed. */
function terminate(pid: number, seconds: number): boolean {
  if (hasEnded(pid)) return false;
  signal(pid, 'SIGTERM');
  for (let waited = 0; waited < seconds * 1000; waited += 100) {
    if (hasEnded(pid)) return false;
    sleep(100);
  }
  signal(pid, 'SIGKILL');
  for (let waited = 0; waited < 5000 && !hasEnded(pid); waited += 50) sleep(50);
  return true;
}

/** The last `lines` lines of a file, for error messages. */
function tail(path: string, lines = 40): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** The mount points at or under `dir`, deepest (and most recently mounted) first: the order to unmount them in. */
function mountsUnder(dir: string): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    // Field 5 is the mount point, with space, tab, newline and backslash written as octal escapes.
    .map((line) => line.split(' ')[4].replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
  return points.reverse().sort((a, b) => b.length - a.length);
}

/** A 10.213.N.1/24 that no interface address or route of this machine is in yet. */
function freeSubnet(): string {
  const taken = `${must('ip', ['-4', '-o', 'addr', 'show'])}\n${must('ip', ['-4', 'route', 'show', 'table', 'all'])}`;
  for (let attempt = 0; attempt < 50; attempt++) {
    const n = 1 + randomBytes(1)[0] % 254;
    if (!taken.includes(`10.213.${n}.`)) return `10.213.${n}.1/24`;
  }
  throw new Error('found no free 10.213.N.0/24 subnet for the second daemon\'s bridge');
}

/** Whether a network interface of that name exists. */
function linkExists(name: string): boolean {
  return run('ip', ['link', 'show', 'dev', name]).status === 0;
}

/** The processes whose command line mentions `dir`: its containerd, and the shims of its containers (`-address DIR/exec/containerd/containerd.sock`). */
function processesMentioning(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) pids.push(Number(entry));
    } catch {
      // Ended meanwhile.
    }
  }
  return pids;
}

/** The IDs of the containers a daemon with this data root has (had running, for a killed one). */
function containerIds(dataRoot: string): string[] {
  try {
    return readdirSync(join(dataRoot, 'containers')).filter((id) => /^[0-9a-f]{64}$/.test(id));
  } catch {
    return [];
  }
}

/**
 * The cgroup directories of its containers (one per controller), found by
 * the container IDs under its data root: where the processes of a container
 * whose shim was killed still are. cgroup v1 and v2, cgroupfs driver (the
 * one this machine's dockerd uses: /sys/fs/cgroup/<controller>/docker/<id>).
 */
function containerCgroups(dataRoot: string): string[] {
  const ids = containerIds(dataRoot);
  const roots = ['/sys/fs/cgroup', ...readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c))];
  return roots.flatMap((root) => ids.map((id) => join(root, 'docker', id))).filter((dir) => existsSync(join(dir, 'cgroup.procs')));
}

/**
 * The per-user strata engines started with this daemon's XDG_RUNTIME_DIR
 * (their pid files, written by `strata serve --pid-file`, hold the process ID
 * and its start time, so a reused process ID is never taken for one).
 */
function enginePids(runtimeDir: string): number[] {
  const dir = join(runtimeDir, 'strata');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => /^engine-[0-9a-f]+\.pid$/.test(file))
    .flatMap((file) => {
      try {
        const [pid, started] = readFileSync(join(dir, file), 'utf8').trim().split('\n').map((l) => l.trim());
        const stat = procStat(Number(pid));
        return stat && (!started || stat[19] === started) ? [Number(pid)] : [];
      } catch {
        return [];
      }
    });
}

/**
 * Starts a second dockerd (see the top of this file), also listening on
 * `alsoListenOn` (e.g. tcp://127.0.0.1:PORT), and waits, up to 30 s,
 * until `docker -H <its socket> version` gets an answer from it; when it
 * does not, stops it again and throws an Error with the end of its log.
 */
export function startSecondDaemon({ alsoListenOn = [] }: { alsoListenOn?: string[] } = {}): SecondDaemon {
  if (process.getuid?.() !== 0) throw new Error('a second Docker daemon needs root');
  const dir = mkdtempSync('/tmp/strata-d2-');
  const socket = join(dir, 'docker.sock');
  const dataRoot = join(dir, 'data');
  const execRoot = join(dir, 'exec');
  const runtimeDir = join(dir, 'run');
  const log = join(dir, 'dockerd.log');
  const pidFile = join(dir, 'dockerd.pid');
  const host = `unix://${socket}`;
  // containerd's debug socket is the longest path it makes: keep it within sun_path.
  if (join(execRoot, 'containerd', 'containerd-debug.sock').length >= 100) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${dir} is too long a path for unix sockets`);
  }
  mkdirSync(runtimeDir, { mode: 0o700 });
  // Its config file. "deprecated-key-path" (a key of daemon.json, no flag, in 20.10) is where the daemon
  // keeps its identity: by default /etc/docker/key.json, the main daemon's, which would give both one ID.
  writeFileSync(join(dir, 'daemon.json'), `${JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') })}\n`);

  // `strata-d2-` and 4 hex digits: 14 characters, within the 15 an interface name may have.
  let bridge = '';
  do bridge = `strata-d2-${randomBytes(2).toString('hex')}`;
  while (linkExists(bridge));

  let pid: number | undefined;
  let stopped = false;

  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', stopAtExit);
    // What went wrong but was dealt with (reported on stderr), and what could not be undone (thrown).
    const notes: string[] = [];
    const failures: string[] = [];

    // 1. The strata engines started for it: they remove their build containers as they exit, so before dockerd goes.
    for (const engine of enginePids(runtimeDir)) terminate(engine, STOP_SECONDS);

    // 2. Its containers, killed outright: on SIGTERM dockerd would stop each one with its stop timeout (10 s
    //    by default; --shutdown-timeout does not shorten it), and a `sleep infinity` as PID 1 ignores SIGTERM.
    if (pid !== undefined && !hasEnded(pid)) {
      const running = run('docker', ['-H', host, 'ps', '--quiet'], 10_000).stdout?.split('\n').filter(Boolean) ?? [];
      if (running.length > 0) run('docker', ['-H', host, 'kill', ...running], 10_000);
    }

    // 3. dockerd: on SIGTERM it stops its containerd and unmounts what it mounted.
    const daemonPid = pid ?? (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || undefined : undefined);
    if (daemonPid !== undefined && terminate(daemonPid, STOP_SECONDS)) notes.push(`dockerd (${daemonPid}) did not end within ${STOP_SECONDS} s of SIGTERM and was killed`);

    // 4. Whatever a killed dockerd left running: its containerd and shims, then its containers' processes.
    for (let round = 0; round < 20; round++) {
      const left = [...processesMentioning(dir), ...containerCgroups(dataRoot).flatMap((cg) => readFileSync(join(cg, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number))];
      if (left.length === 0) break;
      if (round === 0) notes.push(`killed processes it left running: ${[...new Set(left)].join(' ')}`);
      left.forEach((p) => signal(p, 'SIGKILL'));
      sleep(100);
    }
    // A killed shim leaves its socket in containerd's fixed /run/containerd/s (shared with the main daemon's
    // containerd), named by a hash of its containerd's address, namespace and container ID: remove ours.
    for (const id of containerIds(dataRoot)) {
      const address = join(execRoot, 'containerd', 'containerd.sock', 'moby', id);
      rmSync(join('/run/containerd/s', createHash('sha256').update(address).digest('hex')), { force: true });
    }
    // A cgroup directory goes with rmdir once empty (dockerd removes them itself when it stops its containers).
    for (const cg of containerCgroups(dataRoot)) {
      try {
        rmdirSync(cg);
      } catch {
        failures.push(`could not remove cgroup ${cg}`);
      }
    }

    // 5. Mounts under its directory (container root filesystems, shm, network namespaces, the bind mount
    //    dockerd makes of its data root), deepest first; lazily when busy, so nothing stays attached to the tree.
    for (const point of mountsUnder(dir)) {
      if (run('umount', [point]).status !== 0) run('umount', ['-l', point]);
    }
    const stillMounted = mountsUnder(dir);

    // 6. Its bridge.
    if (linkExists(bridge) && run('ip', ['link', 'delete', 'dev', bridge]).status !== 0) failures.push(`could not delete bridge ${bridge}`);

    // 7. Its directory, unless something is still mounted in it: a recursive removal would descend into it.
    if (stillMounted.length > 0) failures.push(`left ${dir} in place: still mounted ${stillMounted.join(', ')}`);
    else rmSync(dir, { recursive: true, force: true });

    if (notes.length > 0) process.stderr.write(`second-daemon: ${notes.join('; ')}\n`);
    if (failures.length > 0) throw new Error(`second Docker daemon not fully cleaned up: ${failures.join('; ')}`);
  };
  // Called by name, so stop() can remove it again.
  function stopAtExit(): void {
    try {
      stop();
    } catch (error) {
      process.stderr.write(`${(error as Error).message}\n`);
    }
  }
  process.once('exit', stopAtExit);

  try {
    must('ip', ['link', 'add', 'name', bridge, 'type', 'bridge']);
    must('ip', ['addr', 'add', freeSubnet(), 'dev', bridge]);
    must('ip', ['link', 'set', 'dev', bridge, 'up']);

    const args = [
      `--host=${host}`,
      ...alsoListenOn.map((address) => `--host=${address}`),
      `--data-root=${dataRoot}`,
      `--exec-root=${execRoot}`,
      `--pidfile=${pidFile}`,
      `--config-file=${join(dir, 'daemon.json')}`,
      `--bridge=${bridge}`,
      '--iptables=false',
      '--ip-masq=false',
      '--ip-forward=false',
    ];
    const env = { ...process.env };
    delete env.DOCKER_HOST;
    delete env.NOTIFY_SOCKET;
    const logFd = openSync(log, 'a');
    // Not detached: a Ctrl-C of the test run reaches it too, and it shuts down.
    const child = spawn('dockerd', args, { stdio: ['ignore', logFd, logFd], env });
    closeSync(logFd);
    child.unref();
    child.on('error', () => undefined); // reported below: it never answers
    pid = child.pid;

    const deadline = Date.now() + START_SECONDS * 1000;
    for (;;) {
      if (pid === undefined || hasEnded(pid)) throw new Error(`dockerd exited before it answered`);
      if (existsSync(socket) && run('docker', ['-H', host, 'version', '--format', '{{.Server.Version}}'], 5000).status === 0) break;
      if (Date.now() > deadline) throw new Error(`dockerd did not answer on ${host} within ${START_SECONDS} s`);
      sleep(250);
    }
  } catch (error) {
    const message = `could not start a second Docker daemon: ${(error as Error).message}\n--- end of ${log} ---\n${tail(log)}`;
    try {
      stop();
    } catch (cleanup) {
      throw new Error(`${message}\n--- and cleaning up: ${(cleanup as Error).message}`);
    }
    throw new Error(message);
  }

  return {
    host,
    env: { DOCKER_HOST: host, XDG_RUNTIME_DIR: runtimeDir },
    copyImages(names: string[]): void {
      if (names.length === 0) return;
      // A pipe between the two CLIs, not through this process: the images can be hundreds of megabytes.
      const script = 'set -o pipefail; docker -H "$MAIN" save "$@" | docker -H "$SECOND" load -q';
      const result = spawnSync('bash', ['-c', script, 'bash', ...names], {
        encoding: 'utf8',
        env: { ...process.env, MAIN: MAIN_HOST, SECOND: host },
      });
      if (result.status !== 0) throw new Error(`copying ${names.join(' ')} into the second daemon failed: ${result.stderr}`);
    },
    stop,
  };
}
