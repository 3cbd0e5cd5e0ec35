/**
 * The benches run production code, as issue #12 asks: the edge as `pnpm
 * build` makes it (apps/edge/dist/main.js) and each bench baseline bundled the
 * same way, all on plain node. Under tsx every party would carry the
 * transpiler's startup and memory, and the edge's RSS would measure tsx as
 * much as the edge.
 */
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAll, buildEntries } from '../../../scripts/build.ts';

const HERE = fileURLToPath(new URL('./', import.meta.url));

/**
 * Builds the edge and bundles the named scripts of this folder (`bare-undici`
 * → `dir/bare-undici.js`). Returns the paths to run with `node`.
 */
export const buildForBench = async <N extends string>(dir: string, scripts: readonly N[]): Promise<{ edge: string } & Record<N, string>> => {
  const edge = buildEntries().find((e) => e.app === 'edge' && e.outfile.endsWith(`${sep}main.js`));
  if (edge === undefined) throw new Error('no edge entry to build');
  const bundles = scripts.map((name) => ({ app: 'bench', entry: join(HERE, `${name}.ts`), outfile: join(dir, `${name}.js`) }));
  await buildAll([edge, ...bundles]);
  return { edge: edge.outfile, ...Object.fromEntries(bundles.map((b, i) => [scripts[i], b.outfile])) } as { edge: string } & Record<N, string>;
};
