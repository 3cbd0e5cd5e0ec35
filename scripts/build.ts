/**
 * `pnpm build`: every app under apps/* that has src/main.ts compiles to
 * apps/<app>/dist/main.js (the operator CLI is the app apps/cli), runnable
 * with plain `node`: no tsx, no dev dependencies.
 *
 * esbuild, not tsc or tsdown: the workspace packages ship TypeScript source
 * with `.ts` import specifiers, which tsc cannot emit as runnable JS without
 * rewriting every package; esbuild bundles them in one pass (well under a
 * second per app) and typechecking stays `pnpm typecheck`. tsdown would be
 * rolldown around the same idea, one more dependency for no gain here.
 *
 * Third-party code is bundled too, except the packages that cannot be: ones
 * that load files next to themselves (PGlite's WASM and data) or native
 * addons. Those stay external and resolve from the app's own node_modules,
 * where each app declares them, so `pnpm install --prod` is enough.
 */
import { build } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Never bundled: they read files relative to their own location, or are
 * native (ssh2 and cpu-features for an SSH app; unused packages cost nothing).
 * An app that imports one must declare it (test/build.test.ts checks).
 */
export const EXTERNAL = ['@electric-sql/pglite', '@electric-sql/pglite-socket', '@node-rs/argon2', 'ssh2', 'cpu-features'];

/**
 * Files a bundle reads beside itself at run time (`new URL('./assets/…',
 * import.meta.url)`): from src/console/ that is src/console/assets, from
 * dist/main.js it is dist/assets, so they are copied there.
 */
const STATIC_ASSETS: Record<string, ReadonlyArray<{ from: string; to: string }>> = {
  api: [{ from: 'src/console/assets', to: 'dist/assets' }],
};

export interface BuildEntry {
  app: string;
  entry: string;
  outfile: string;
}

export interface BuiltEntry extends BuildEntry {
  /** Import paths left in the output (esbuild's metafile): node builtins and EXTERNAL only. */
  externalImports: string[];
  /** Third-party packages bundled into the output (from the metafile's inputs), e.g. to check the agent carries no drizzle. */
  bundledPackages: string[];
}

/** `…/node_modules/@scope/name/…` or `…/node_modules/name/…` → the package name (the last node_modules wins). */
const packageOf = (input: string): string | null => {
  const rest = input.split('node_modules/').at(-1);
  if (rest === undefined || rest === input) return null;
  const parts = rest.split('/');
  return (rest.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
};

/** Every app with src/main.ts (the operator CLI is its own app, apps/cli). */
export const buildEntries = (appsDir = path.join(root, 'apps')): BuildEntry[] =>
  readdirSync(appsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(appsDir, d.name, 'src', 'main.ts')))
    .map((d) => {
      const dir = path.join(appsDir, d.name);
      return { app: d.name, entry: path.join(dir, 'src', 'main.ts'), outfile: path.join(dir, 'dist', 'main.js') };
    });

export const buildAll = async (entries = buildEntries()): Promise<BuiltEntry[]> => {
  const built: BuiltEntry[] = [];
  for (const e of entries) {
    const result = await build({
      metafile: true,
      // Written below, each file atomically: a CLI wrapper rebuilding while
      // another process reads dist/ never sees half a file.
      write: false,
      entryPoints: [e.entry],
      outfile: e.outfile,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      external: EXTERNAL,
      sourcemap: 'linked',
      // CommonJS dependencies call require(); give the ESM bundle a real one.
      banner: {
        js: "import { createRequire as __airlockRequire } from 'node:module';\nconst require = __airlockRequire(import.meta.url);",
      },
      // The sources start with a tsx hashbang for checkouts; the build runs on plain node.
      plugins: [
        {
          // A native addon (`*.node`) cannot be inlined; leave the require to fail or succeed at run time.
          name: 'native-addons-external',
          setup(b) {
            b.onResolve({ filter: /\.node$/ }, (args) => ({ path: args.path, external: true }));
          },
        },
        {
          name: 'strip-tsx-hashbang',
          setup(b) {
            b.onLoad({ filter: /[/\\]main\.ts$/ }, async (args) => {
              const { readFile } = await import('node:fs/promises');
              return { contents: (await readFile(args.path, 'utf8')).replace(/^#![^\n]*\n/, ''), loader: 'ts' };
            });
          },
        },
      ],
      legalComments: 'linked',
      logLevel: 'warning',
    });
    for (const f of result.outputFiles) {
      mkdirSync(path.dirname(f.path), { recursive: true });
      const tmp = `${f.path}.${process.pid}.tmp`;
      writeFileSync(tmp, f.contents);
      renameSync(tmp, f.path);
    }
    const appDir = path.dirname(path.dirname(e.outfile));
    for (const a of STATIC_ASSETS[e.app] ?? []) cpSync(path.join(appDir, a.from), path.join(appDir, a.to), { recursive: true });
    const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));
    const inputs = Object.values(result.metafile.outputs).flatMap((o) => Object.keys(o.inputs));
    const bundledPackages = [...new Set(inputs.map(packageOf).filter((p): p is string => p !== null))].sort();
    built.push({ ...e, externalImports: [...new Set(imports)].sort(), bundledPackages });
  }
  return built;
};

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = await buildAll();
  for (const e of built) process.stdout.write(`${path.relative(root, e.outfile)}\n`);
}
