// The engine's version, as package.json gives it.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root: dist/src/engine -> ../../.. */
export const PACKAGE_ROOT = join(__dirname, '..', '..', '..');

export const ENGINE_VERSION: string = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')).version;
