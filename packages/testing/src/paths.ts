import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root: tests start the apps' entry points by path from here. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The checkout's tsx, for running an app's TypeScript entry as a process. */
export const TSX = path.join(REPO_ROOT, 'node_modules/.bin/tsx');
