/**
 * The benches run production code, as issue #12 asks: the edge (and the api)
 * as `pnpm build` makes it (apps/<app>/dist/main.js) and each bench baseline
 * bundled the same way, all on plain node. Under tsx every party would carry
 * the transpiler's startup and memory, and the edge's RSS would measure tsx
 * as much as the edge.
 */
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAll, buildEntries } from './build.ts';

const EDGE_BENCH = fileURLToPath(new URL('../apps/edge/bench/', import.meta.url));

/**
 * Builds one app's main entry (as `pnpm build` does) and bundles the named
 * scripts of `scriptsDir` (`bare-undici` → `dir/bare-undici.js`). Returns the
 * paths to run with `node`, the app's under `main`.
 */
export const buildAppForBench = async <N extends string>(
  app: string,
  dir: string,
  scripts: readonly N[],
  scriptsDir: string,
): Promise<{ main: string } & Record<N, string>> => {
  const entry = buildEntries().find((e) => e.app === app && e.outfile.endsWith(`${sep}main.js`));
  if (entry === undefined) throw new Error(`no ${app} entry to build`);
  const bundles = scripts.map((name) => ({ app: 'bench', entry: join(scriptsDir, `${name}.ts`), outfile: join(dir, `${name}.js`) }));
  await buildAll([entry, ...bundles]);
  return { main: entry.outfile, ...Object.fromEntries(bundles.map((b, i) => [scripts[i], b.outfile])) } as { main: string } & Record<N, string>;
};

/**
 * Builds the edge and bundles the named scripts of apps/edge/bench
 * (`bare-undici` → `dir/bare-undici.js`). Returns the paths to run with `node`.
 */
export const buildForBench = async <N extends string>(dir: string, scripts: readonly N[]): Promise<{ edge: string } & Record<N, string>> => {
  const { main, ...rest } = await buildAppForBench('edge', dir, scripts, EDGE_BENCH);
  return { edge: main, ...rest } as unknown as { edge: string } & Record<N, string>;
};
