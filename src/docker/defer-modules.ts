// The engine starts with every build, so its start-up time is every build's.
// dockerode loads two modules at start that strata rarely or never uses: its
// BuildKit session support (gRPC, ~90 ms) and docker-modem's ssh transport
// (~40 ms, needed only for ssh:// DOCKER_HOST). Each is replaced, before
// dockerode loads, by a function that loads the real one on first call.
// Import this module before dockerode.

import Module from 'node:module';

function deferModule(request: string): void {
  const path = require.resolve(request);
  if (require.cache[path]) return;
  let real: ((...args: unknown[]) => unknown) | undefined;
  const stub = new Module(path);
  stub.filename = path;
  stub.loaded = true;
  stub.exports = function (this: unknown, ...args: unknown[]) {
    if (!real) {
      delete require.cache[path];
      real = require(path) as (...args: unknown[]) => unknown;
    }
    return real.apply(this, args);
  };
  require.cache[path] = stub;
}

deferModule('dockerode/lib/session.js');
deferModule('docker-modem/lib/ssh.js');
