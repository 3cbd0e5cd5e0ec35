/**
 * The seams between apps are packages, never paths: no file reaches into
 * another app's or package's files by a relative import, packages depend on
 * no app, and an app is imported from outside only through the entries its
 * package.json exports, each listed here with who may use it (a new one is a
 * decision, made in this file). Unused dependencies, files and exports are
 * knip's job (`pnpm knip`, a step of `pnpm test`). Pure file reads: no
 * process, no socket.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');

/** Which workspace package a repository path belongs to: `apps/api`, `packages/crypto`, or `.` (the root). */
const packageOf = (file: string): string => {
  const [top, name] = file.split('/');
  return (top === 'apps' || top === 'packages') && name ? `${top}/${name}` : '.';
};

/**
 * Relative imports allowed to cross a package line: `pnpm bench` (scripts/bench.ts)
 * runs each app's bench, and the benches build with the root's esbuild setup.
 */
const CROSSING_ALLOWED: ReadonlyArray<[from: RegExp, to: RegExp]> = [
  [/^scripts\/bench\.ts$/, /^apps\/[^/]+\/bench\//],
  [/^apps\/[^/]+\/bench\//, /^scripts\/bench-build\.ts$/],
];

/** An app's entries other packages may import, and who may. `.` is the root (test/, scripts/). */
const APP_ENTRIES: Record<string, readonly string[]> = {
  // Bootstrap and recovery on the database (migrate, operators, audit prune, doctor's probe).
  '@airlock/api/admin': ['apps/cli', '.'],
  // The api in the test's process, and the enrollment flows over HTTP.
  '@airlock/api/testing': ['apps/api', 'apps/cli', '.'],
  // The api's tests drive the real CLI in-process (a devDependency).
  '@airlock/cli/run': ['apps/api'],
  // doctor validates an edge's environment; the tunnel tests read the pre-auth cap.
  '@airlock/edge/config': ['apps/cli', '.'],
  // The end-to-end tests (test/agent, test/tunnel) call these directly.
  '@airlock/agent/cli': ['.'],
  '@airlock/agent/machine-uid': ['.'],
  '@airlock/tunnel/install': ['.'],
  '@airlock/tunnel/sshd-config': ['.'],
  // test/docs.test.ts checks docs/configuration.md against each app's settings table.
  '@airlock/api/config': ['.'],
  '@airlock/tunnel/config': ['.'],
};

interface ImportSite {
  file: string;
  line: number;
  specifier: string;
}

const IMPORT = /(?<![\w.])(?:import|export)\s*(?:type\s+)?(?:[\w*{}\s,]+?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every static import, re-export and literal dynamic import in TypeScript source. */
const importsIn = (file: string, text: string): ImportSite[] => {
  const sites: ImportSite[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const specifier = m[1] ?? m[2];
    if (!specifier) continue;
    sites.push({ file, line: text.slice(0, m.index).split('\n').length, specifier });
  }
  return sites;
};

/** The broken rules among `sites`, one line each (`file:line → specifier: why`). */
const boundaryProblems = (sites: readonly ImportSite[], apps: ReadonlySet<string>): string[] => {
  const problems: string[] = [];
  for (const { file, line, specifier } of sites) {
    const at = `${file}:${line} → ${specifier}`;
    const from = packageOf(file);
    if (specifier.startsWith('.')) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
      if (target.startsWith('..')) problems.push(`${at}: leaves the repository`);
      else if (packageOf(target) !== from && !CROSSING_ALLOWED.some(([f, t]) => f.test(file) && t.test(target))) {
        problems.push(`${at}: reaches into ${packageOf(target)} by path; import its package instead`);
      }
      continue;
    }
    const m = /^@airlock\/([^/]+)(\/.*)?$/.exec(specifier);
    if (!m?.[1] || !apps.has(m[1])) continue;
    const entry = `@airlock/${m[1]}${m[2] ?? ''}`;
    if (from.startsWith('packages/')) problems.push(`${at}: a package depends on no app`);
    else if (!APP_ENTRIES[entry]) problems.push(`${at}: not an entry the app offers (see APP_ENTRIES)`);
    else if (!APP_ENTRIES[entry].includes(from)) problems.push(`${at}: ${from} is not among the users of ${entry}`);
  }
  return problems;
};

const trackedSources = (): string[] =>
  execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts', '*.tsx', '*.mts', '*.cts'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    // This file's own examples are import statements inside strings.
    .filter((f) => f && !f.includes('node_modules/') && f !== 'test/boundaries.test.ts');

const APPS = new Set(readdirSync(path.join(ROOT, 'apps')));

describe('the boundary rules themselves', () => {
  it('catch a path into another app, a package importing an app, and an entry nobody listed', () => {
    const sites = [
      ...importsIn('apps/cli/src/doctor.ts', "import { loadConfig } from '../../edge/src/env.ts';\n"),
      ...importsIn('apps/api/test/x.test.ts', "const m = await import('../../../test/helpers/stack.ts');\n"),
      ...importsIn('test/x.test.ts', "export { a } from '../apps/api/src/server.ts';\n"),
      ...importsIn('packages/client/src/x.ts', "import type { A } from '@airlock/api/admin';\n"),
      ...importsIn('apps/tunnel/src/x.ts', "import { b } from '@airlock/api/testing';\nimport { c } from '@airlock/edge/src/env.ts';\n"),
    ];
    expect(boundaryProblems(sites, new Set(['api', 'edge', 'cli', 'tunnel']))).toEqual([
      'apps/cli/src/doctor.ts:1 → ../../edge/src/env.ts: reaches into apps/edge by path; import its package instead',
      'apps/api/test/x.test.ts:1 → ../../../test/helpers/stack.ts: reaches into . by path; import its package instead',
      'test/x.test.ts:1 → ../apps/api/src/server.ts: reaches into apps/api by path; import its package instead',
      'packages/client/src/x.ts:1 → @airlock/api/admin: a package depends on no app',
      'apps/tunnel/src/x.ts:1 → @airlock/api/testing: apps/tunnel is not among the users of @airlock/api/testing',
      'apps/tunnel/src/x.ts:2 → @airlock/edge/src/env.ts: not an entry the app offers (see APP_ENTRIES)',
    ]);
  });

  it('let a file import within its own package, and the bench runner reach the benches', () => {
    const sites = [
      ...importsIn('apps/api/test/a.test.ts', "import { x } from '../src/env.ts';\nimport { y } from './support.ts';\n"),
      ...importsIn('scripts/bench.ts', "import { runApiBench } from '../apps/api/bench/api-bench.ts';\n"),
      ...importsIn('apps/edge/bench/edge-bench.ts', "import { buildForBench } from '../../../scripts/bench-build.ts';\n"),
      ...importsIn('apps/cli/src/run.ts', "import { DatabaseUnreachableError } from '@airlock/api/admin';\nimport { v } from 'valibot';\n"),
    ];
    expect(boundaryProblems(sites, new Set(['api', 'edge', 'cli']))).toEqual([]);
  });
});

describe('the repository', () => {
  it('imports no other app or package by path, and apps only through their listed entries', () => {
    const sites = trackedSources().flatMap((f) => importsIn(f, readFileSync(path.join(ROOT, f), 'utf8')));
    expect(sites.length).toBeGreaterThan(1000);
    expect(boundaryProblems(sites, APPS)).toEqual([]);
  });

  it('has each app export exactly the entries listed above', () => {
    const listed = Object.keys(APP_ENTRIES);
    for (const app of APPS) {
      const manifest = JSON.parse(readFileSync(path.join(ROOT, 'apps', app, 'package.json'), 'utf8')) as { exports?: Record<string, string> };
      const exported = Object.keys(manifest.exports ?? {}).map((k) => `@airlock/${app}${k.slice(1)}`);
      expect(exported.sort(), app).toEqual(listed.filter((e) => e.startsWith(`@airlock/${app}/`)).sort());
    }
  });
});
