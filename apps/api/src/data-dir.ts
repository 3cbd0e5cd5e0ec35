/** Where the api keeps local state, and the quickstart's admin token within it. Shared by api, CLI and `pnpm start`. */
import path from 'node:path';

export const DEFAULT_DATA_DIR = './.airlock';

/** The 0600 file the bootstrap writes and `pnpm airlock` reads (see bootstrap.ts). */
export const adminTokenPath = (dataDir: string): string => path.resolve(dataDir, 'admin-token');
