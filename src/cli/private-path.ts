// The rule for what holds this user's engines (their sockets, tokens and pid
// files): it must belong to the user and be closed to others, or someone else
// could have put there what strata reads. The plugin applies the same rule
// to the directory it starts engines in (runtime_dir in
// python_shim/strata_ansible/user_engine.py); `strata stop` applies it to
// that directory and to each pid file before it believes what one says.

import { statSync } from 'node:fs';

/** Why `path` may not be trusted as this user's (a sentence), or undefined when it may. */
export function notPrivate(path: string): string | undefined {
  const info = statSync(path);
  const uid = process.getuid?.();
  if ((uid === undefined || info.uid === uid) && (info.mode & 0o077) === 0) return undefined;
  const fix = info.isDirectory() ? `\`chmod 700 ${path}\`` : `\`chmod 600 ${path}\``;
  const what = info.isDirectory() ? "where strata keeps its engines' sockets, " : '';
  return `${path}, ${what}must belong to you and be closed to others (mode ${info.isDirectory() ? '0700' : '0600'}): fix it with ${fix}, or remove it`;
}
