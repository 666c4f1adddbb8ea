"""How Ansible's Python modules are started in a build container.

Every module run unpacks its payload into a fresh directory under the
system temp dir and removes it afterwards, which would put /tmp into every
layer. The launcher, a file in the container's scratch directory (never
committed), runs the interpreter Ansible chose (its first argument: the
module's shebang, as discovered or configured) on the module as Ansible
would, except that this one payload directory goes to the scratch
directory. A host whose modules run with the mounted runtime has a launcher
that runs the runtime's Python instead. The module itself sees the temp dir,
environment and arguments it sees under stock Ansible.
"""

import os
import shlex

NAME = 'python'
DEFAULT_INTERPRETER = '/usr/bin/python3'

# No single quote in it: it travels inside one in the shell script below.
_PAYLOAD_REDIRECT = (
    'import sys,tempfile\n'
    'scratch=sys.argv.pop(1)\n'
    'real_mkdtemp=tempfile.mkdtemp\n'
    'def mkdtemp(suffix=None,prefix=None,dir=None):\n'
    '    if dir is None and prefix and prefix.startswith("ansible_") and prefix.endswith("_payload_"):\n'
    '        dir=scratch\n'
    '    return real_mkdtemp(suffix,prefix,dir)\n'
    'tempfile.mkdtemp=mkdtemp\n'
    'src=open(sys.argv[1]).read() if len(sys.argv)>1 else sys.stdin.read()\n'
    'sys.argv=sys.argv[1:] or [""]\n'
    'exec(compile(src,sys.argv[0] or "<stdin>","exec"))\n'
)


def scratch_files(python=None, shell='/bin/sh'):
    """The files the engine puts in each build container's scratch directory:
    the launcher, which runs `python`, else the interpreter it is given (its
    first argument, split into words as a shebang's would be). It finds that
    directory as its own."""
    run = shlex.quote(python) if python else '$1'
    return {NAME: "#!%s\ninterpreter=%s\nshift\nexec $interpreter -c '%s' \"${0%%/*}\" \"$@\"\n"
            % (shell, run, _PAYLOAD_REDIRECT)}


def is_python(interpreter):
    """Whether a module's interpreter (a shebang's command) is a Python."""
    return any('python' in os.path.basename(word) for word in interpreter.split())


def interpreter(scratch):
    return '%s/%s' % (scratch, NAME)
