/**
 * `pnpm --filter @airlock/agent bundle [--outfile FILE]`: one self-contained
 * ESM file that runs on any appliance with Node >= 20, no pnpm, tsx or
 * node_modules needed. Uses the esbuild that tsx already brings, so the agent
 * gains no dependency of its own.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface EsbuildLike {
  build(options: Record<string, unknown>): Promise<{ outputFiles?: { text: string }[] }>;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const agentRoot = path.resolve(here, '..');
// `pnpm … bundle -- --outfile X` forwards the `--` too.
const { values } = parseArgs({ args: process.argv.slice(2).filter((a) => a !== '--'), options: { outfile: { type: 'string' } } });
const outfile = path.resolve(values.outfile ?? path.join(agentRoot, 'dist', 'airlock-agent.mjs'));

// tsx depends on esbuild; resolve it from tsx's own location (pnpm keeps it private to tsx).
const requireHere = createRequire(import.meta.url);
const requireFromTsx = createRequire(requireHere.resolve('tsx/package.json', { paths: [path.resolve(agentRoot, '../..')] }));
const esbuild = requireFromTsx('esbuild') as EsbuildLike;

const result = await esbuild.build({
  entryPoints: [path.join(agentRoot, 'src', 'main.ts')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outfile,
  write: false,
  // tweetnacl is CommonJS and calls require('crypto'); give the ESM bundle a real require.
  banner: { js: "import { createRequire as __airlockCreateRequire } from 'node:module';\nconst require = __airlockCreateRequire(import.meta.url);" },
  legalComments: 'inline',
  logLevel: 'warning',
});
const text = result.outputFiles?.[0]?.text;
if (text === undefined) throw new Error('esbuild produced no output');
// main.ts starts with a tsx hashbang for checkouts; the bundle runs on plain node.
const body = text.replace(/^#![^\n]*\n/, '');
await mkdir(path.dirname(outfile), { recursive: true });
await writeFile(outfile, `#!/usr/bin/env node\n${body}`);
await chmod(outfile, 0o755);
process.stdout.write(`${outfile}\n`);
