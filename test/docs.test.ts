/**
 * The documentation stays true to the tree: every relative link and anchor
 * resolves, every environment variable an app reads is documented (and no
 * table documents one nothing reads), every declared dependency has its
 * reason, and the README stays a landing page. Pure file reads: no process,
 * no socket.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { EnvDefinition, Fields } from '@airlock/config';
import { describe, expect, it } from 'vitest';
import { ApiEnv } from '@airlock/api/config';
import { EdgeEnv, SshDemuxEnv } from '@airlock/edge/config';
import { TunnelEnv } from '@airlock/tunnel/config';
import { anchors, brokenLinks, links, shBlocksUnder } from './helpers/markdown.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const read = (rel: string) => readFileSync(path.join(ROOT, rel), 'utf8');

const DOCS = readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
const APP_READMES = readdirSync(path.join(ROOT, 'apps'))
  .map((a) => `apps/${a}/README.md`)
  .filter((f) => {
    try {
      read(f);
      return true;
    } catch {
      return false;
    }
  });
const PAGES = ['README.md', ...DOCS, ...APP_READMES];

/** Every non-test TypeScript source file under `dirs`, relative to the root. */
const sources = (dirs: string[]): string[] =>
  dirs.flatMap((d) => {
    const abs = path.join(ROOT, d);
    return readdirSync(abs, { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.tsx?$/.test(f) && !/\.test\.tsx?$/.test(f) && !f.includes('node_modules'))
      .map((f) => path.join(d, f));
  });
const ALL_SOURCES = sources([
  ...readdirSync(path.join(ROOT, 'apps')).map((a) => `apps/${a}/src`),
  ...readdirSync(path.join(ROOT, 'packages')).map((p) => `packages/${p}/src`),
  'scripts',
  'test',
]);
/** What the apps run: test harnesses and scripts excluded. */
const APP_SOURCES = ALL_SOURCES.filter((f) => /^(apps|packages)\//.test(f) && !f.includes(`${path.sep}testing${path.sep}`));

/** Generic variables every program may read; not Airlock settings. */
const GENERIC = new Set(['PATH', 'HOME', 'TERM']);

/**
 * Keys of the env schemas (`NAME: …` in a file that uses valibot or
 * @airlock/config), and `env.NAME` reads: a table no test below names is
 * still found this way.
 */
const envNamesIn = (files: string[], withSchemas: boolean): Set<string> => {
  const names = new Set<string>();
  for (const f of files) {
    const text = read(f);
    if (withSchemas && /from '(?:valibot|@airlock\/config)'/.test(text)) {
      for (const m of text.matchAll(/^\s+([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\s*:/gm)) names.add(m[1] ?? '');
    }
    for (const m of text.matchAll(/\benv(?:\.|\[['"])([A-Z][A-Z0-9_]{2,})/g)) names.add(m[1] ?? '');
  }
  for (const g of GENERIC) names.delete(g);
  return names;
};

describe('Markdown helpers', () => {
  it('slugs headings as GitHub does: underscores kept, punctuation dropped, duplicates numbered, code ignored', () => {
    const md = '# Top\n\n## Re-key proof (machine_uid takeover)\n\n```sh\n# not a heading\n```\n\n## `api` (`pnpm start:api`)\n\n## Top\n';
    expect([...anchors(md)]).toEqual(['top', 're-key-proof-machine_uid-takeover', 'api-pnpm-startapi', 'top-1']);
  });

  it('reads links outside code only, and the sh blocks of a section with its subsections', () => {
    const md = 'See [a](a.md#x) and `[no](b.md)`.\n```\n[no](c.md)\n```\n## One\n```sh\none\n```\n### Sub\n```sh\nsub\n```\n```ts\nts\n```\n## Two\n```sh\ntwo\n```\n';
    expect(links(md).map((l) => l.target)).toEqual(['a.md#x']);
    expect(shBlocksUnder(md, 'One')).toEqual(['one\n', 'sub\n']);
    expect(() => shBlocksUnder(md, 'Three')).toThrow(/no heading "Three"/);
  });

  it('reports a missing file, a missing anchor and a path out of the repository', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-links-'));
    try {
      writeFileSync(path.join(dir, 'a.md'), '# A\n\n## Here\n\n[ok](#here) [ok](b.md#b) [web](https://example.com/x#y)\n[bad](#there) [bad](b.md#nope) [bad](missing.md) [bad](../outside.md)\n');
      writeFileSync(path.join(dir, 'b.md'), '# B\n');
      expect(brokenLinks(dir, 'a.md')).toEqual([
        'a.md:6 → #there: no heading with anchor #there',
        'a.md:6 → b.md#nope: no heading with anchor #nope',
        'a.md:6 → missing.md: no such file',
        'a.md:6 → ../outside.md: leaves the repository',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the documentation', () => {
  it('has the pages a newcomer is promised, each saying who it is for', () => {
    for (const page of ['quickstart', 'configuration', 'operations', 'security', 'credentials', 'tunnel', 'console', 'cli', 'api', 'benchmarks', 'decisions', 'known-limits']) {
      expect(DOCS, page).toContain(`docs/${page}.md`);
      expect(read(`docs/${page}.md`).split('\n').slice(0, 6).join(' '), page).toMatch(/\*\*For\*\*/);
    }
  });

  it('keeps the README a landing page of at most 250 lines', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(250);
  });

  it('resolves every relative link and anchor in README.md, docs/ and the apps’ READMEs', () => {
    expect(PAGES.flatMap((p) => brokenLinks(ROOT, p))).toEqual([]);
  });

  it('names no document outside the repository', () => {
    for (const page of PAGES) {
      const text = read(page);
      expect(text, page).not.toMatch(/CONTRACT\.md|STYLE\.md|\/work\/|shared\//);
      expect(text, page).not.toMatch(/contract document|design card/i);
    }
  });

  it('keeps benchmark profiles out of the README and the apps’ READMEs', () => {
    for (const page of ['README.md', ...APP_READMES]) {
      expect(read(page), page).not.toMatch(/Profile and measurements|req\/s|--cpu-prof/);
    }
  });
});

describe('docs/configuration.md', () => {
  const doc = read('docs/configuration.md');
  const readByApps = envNamesIn(APP_SOURCES, true);

  it('finds the env schemas it checks against (the scan itself works)', () => {
    for (const name of ['DATABASE_URL', 'API_PORT', 'EDGE_PORT', 'EDGE_SSH_UPSTREAM', 'TUNNEL_PORT', 'AIRLOCK_API_URL', 'AIRLOCK_ENROLLMENT_KEY']) {
      expect(readByApps, name).toContain(name);
    }
  });

  it('documents every variable an app reads', () => {
    const missing = [...readByApps].filter((name) => !doc.includes(`\`${name}\``)).sort();
    expect(missing).toEqual([]);
  });

  it('documents in its tables no variable that nothing reads', () => {
    // The tests' own variables (TEST_DATABASE_URL…) are read by test helpers and the preflight.
    const anywhere = envNamesIn(ALL_SOURCES, true);
    const inTables = doc
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .flatMap((l) => [...(l.split('|')[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1] ?? ''));
    expect(inTables.length).toBeGreaterThan(100);
    expect(inTables.filter((name) => !anywhere.has(name))).toEqual([]);
  });
});

describe('docs/configuration.md against the apps\u2019 env definitions (@airlock/config)', () => {
  const doc = read('docs/configuration.md');
  /** The table rows of one `## heading` section: the variables of the first cell, and the last cell (the default). */
  const rowsOf = (heading: string): Array<{ names: string[]; fallback: string }> => {
    const start = doc.indexOf(`\n## ${heading}\n`);
    expect(start, heading).toBeGreaterThan(-1);
    const end = doc.indexOf('\n## ', start + 1);
    return doc
      .slice(start, end < 0 ? undefined : end)
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) => {
        const cells = l.split('|').slice(1, -1);
        return { names: [...(cells[0] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1] ?? ''), fallback: cells.at(-1) ?? '' };
      });
  };
  const sections: Array<[string, EnvDefinition<Fields>[]]> = [
    ['api', [ApiEnv]],
    ['edge', [EdgeEnv, SshDemuxEnv]],
    ['tunnel endpoint', [TunnelEnv]],
  ];

  for (const [heading, definitions] of sections) {
    it(`documents every variable of the ${heading} in its own table, with the default the code applies`, () => {
      const rows = rowsOf(heading);
      const problems: string[] = [];
      for (const def of definitions) {
        const defaults = def.defaults();
        for (const name of def.names) {
          const row = rows.find((r) => r.names.includes(name));
          const fallback = defaults[name];
          if (!row) problems.push(`${name}: no row in "## ${heading}"`);
          else if (fallback === '' && !/\bempty\b/.test(row.fallback)) problems.push(`${name}: default is empty, the table says ${row.fallback.trim()}`);
          else if (fallback && !row.fallback.includes(`\`${fallback}\``)) problems.push(`${name}: default is \`${fallback}\`, the table says ${row.fallback.trim()}`);
        }
      }
      expect(problems).toEqual([]);
    });
  }
});

describe('docs/decisions.md', () => {
  it('names every dependency a package.json declares, with its reason', () => {
    const doc = read('docs/decisions.md');
    const manifests = ['package.json', ...['apps', 'packages'].flatMap((d) => readdirSync(path.join(ROOT, d)).map((p) => `${d}/${p}/package.json`))];
    const unnamed: string[] = [];
    for (const m of manifests) {
      let pkg: { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
      try {
        pkg = JSON.parse(read(m)) as typeof pkg;
      } catch {
        continue;
      }
      const declared = Object.keys({ ...pkg.dependencies, ...(m === 'package.json' ? pkg.devDependencies : {}) });
      for (const dep of declared.filter((d) => !d.startsWith('@airlock/'))) {
        if (!doc.includes(`\`${dep}\``)) unnamed.push(`${m}: ${dep}`);
      }
    }
    expect(unnamed).toEqual([]);
  });
});
