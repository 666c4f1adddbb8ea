# strata's exec agent: the process a build container runs while it waits for
# tasks (PID 1, started by src/docker/containers.ts), which also runs the
# commands Ansible sends into the container. A `docker exec` costs about
# 0.1 s of runtime set-up per command, and a task runs several; the agent
# starts a command in a millisecond or two.
#
# It reads requests on its stdin, which the engine that started the container
# holds (when the engine ends, stdin ends and so does the container), and
# writes replies on its stdout. Both are binary frames, big-endian:
#   request: id u32, header length u32, stdin length u32, header (JSON:
#            {"argv": [...], "user": "name[:group]" | null}), stdin bytes
#   reply:   id u32, exit code i32, stdout length u32, stderr length u32,
#            stdout bytes, stderr bytes
# A command runs as `docker exec -u USER` would run it: the container's
# environment and working directory, the user's IDs, groups and home, and
# exit code 128+N when signal N ended it. Its output is read to its end.
#
# It is started as `python3 -E -s -B -c BOOTSTRAP` (exec-agent.ts), only as
# root (it switches users), by the container's shell once that has said the
# agent is coming. The engine then sends this source on stdin, ahead of any
# request: nothing of it is written into the container, or into the command
# every layer's history records. Requests sent while Python starts wait in
# the pipe, so its start-up is not waited for. Python 3.5 syntax: the base
# image's Python may run it.

import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time

try:
    import grp
    import pwd
except ImportError:  # not on a Unix Python: no user but the agent's own
    grp = pwd = None

REQUEST = struct.Struct('>III')
REPLY = struct.Struct('>IiII')

requests = sys.stdin.buffer
replies = sys.stdout.buffer
replying = threading.Lock()


def initial_environment():
    """The environment Docker gave this process, before Python's own start-up
    changed any of it (it may set LC_CTYPE): what a `docker exec` gets."""
    try:
        with open('/proc/self/environ', 'rb') as f:
            pairs = [item.split(b'=', 1) for item in f.read().split(b'\0') if b'=' in item]
        return dict((os.fsdecode(k), os.fsdecode(v)) for k, v in pairs)
    except OSError:
        return dict(os.environ)


ENVIRONMENT = initial_environment()


class Refused(Exception):
    """A command that cannot start; `code` is what docker exec would exit with."""

    def __init__(self, code, message):
        Exception.__init__(self, message)
        self.code = code


def user_entry(name):
    if name.isdigit():
        try:
            return pwd.getpwuid(int(name))
        except KeyError:
            return None  # a bare uid: group 0, home /
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise Refused(126, 'unable to find user %s: no matching entries in passwd file' % name)


def group_id(name):
    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise Refused(126, 'unable to find group %s: no matching entries in group file' % name)


def identity(spec):
    """(uid, gid, groups, home) for a docker-exec user spec, or None to stay root."""
    if not spec or pwd is None:
        return None
    name, _, group = spec.partition(':')
    entry = user_entry(name)
    uid = entry.pw_uid if entry else int(name)
    gid = entry.pw_gid if entry else 0
    home = entry.pw_dir if entry else '/'
    if group:
        gid = group_id(group)
        groups = [gid]
    elif entry:
        groups = sorted(set([gid] + [g.gr_gid for g in grp.getgrall() if entry.pw_name in g.gr_mem]))
    else:
        groups = [gid]
    if uid == 0 and not group:
        return None
    return uid, gid, groups, home


def as_user(who):
    """Popen arguments that start the command as `who`."""
    if who is None:
        return {}
    uid, gid, groups, _ = who
    if sys.version_info >= (3, 9):
        return {'user': uid, 'group': gid, 'extra_groups': groups}

    def switch():
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)

    return {'preexec_fn': switch}


def environment_for(who):
    env = dict(ENVIRONMENT)
    # Docker sets HOME to the home of the user a process runs as, unless the
    # image sets it: a HOME that is root's came from Docker, for this agent.
    if who is not None and env.get('HOME') == root_home():
        env['HOME'] = who[3]
    return env


def root_home():
    try:
        return pwd.getpwuid(0).pw_dir
    except (KeyError, AttributeError):
        return '/root'


# The commands running now, by process ID: each one's own thread waits for
# it. Any other child that ends is an orphan (a process a task left behind,
# whose parent ended), which PID 1 must reap, as the shell it replaces did.
commands = set()
commands_lock = threading.Lock()
command_started = threading.Event()


def run(argv, user, stdin):
    try:
        who = identity(user)
        with commands_lock:
            child = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=environment_for(who), start_new_session=True, **as_user(who))
            commands.add(child.pid)
        command_started.set()
    except Refused as refused:
        return refused.code, b'', ('strata: ' + str(refused) + '\n').encode()
    except OSError as err:
        code = 127 if isinstance(err, FileNotFoundError) else 126
        return code, b'', ('strata: cannot run %s: %s\n' % (argv[0], err.strerror)).encode()
    try:
        out, err = child.communicate(stdin)
    finally:
        with commands_lock:
            commands.discard(child.pid)
    code = child.returncode
    return (128 - code if code < 0 else code), out, err


def reap_orphans():
    while True:
        try:
            ended = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:  # no child at all, until a command starts
            command_started.wait()
            command_started.clear()
            continue
        with commands_lock:
            if ended.si_pid not in commands:
                reap(ended.si_pid)
                continue
        time.sleep(0.01)  # a command: its own thread reaps it, and soon


def reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # a command whose thread reaped it since waitid saw it


def answer(ident, argv, user, stdin):
    try:
        code, out, err = run(argv, user, stdin)
    except Exception as failure:  # the reply must come whatever happened
        code, out, err = 126, b'', ('strata: exec agent: %r\n' % (failure,)).encode()
    with replying:
        replies.write(REPLY.pack(ident, code, len(out), len(err)) + out + err)
        replies.flush()


def read_exactly(size):
    data = requests.read(size) if size else b''
    if len(data) < size:
        # The engine is gone: so is this container (Docker removes it).
        os._exit(0)
    return data


def serve():
    # As PID 1 with no handler, a signal from inside the container is ignored,
    # as it was for the shell this agent replaces.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    reaper = threading.Thread(target=reap_orphans)
    reaper.daemon = True
    reaper.start()
    while True:
        ident, header_size, stdin_size = REQUEST.unpack(read_exactly(REQUEST.size))
        header = json.loads(read_exactly(header_size).decode('utf-8'))
        stdin = read_exactly(stdin_size)
        worker = threading.Thread(target=answer, args=(ident, header['argv'], header.get('user'), stdin))
        worker.daemon = True
        worker.start()


if __name__ == '__main__':
    serve()
