/**
 * The production build: `pnpm build` compiles every app to one JavaScript
 * file that plain node runs. The built api and edge start as processes and
 * enroll a machine end to end; the bundles import nothing but node builtins
 * and the few packages that cannot be bundled, each declared by its app (so
 * `pnpm install --prod` suffices); the CLI wrapper prints only its own output.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAll, buildEntries, EXTERNAL, type BuiltEntry } from '../scripts/build.ts';
import { newAgentKey, REPO_ROOT, request } from '@airlock/testing';
import { startStack, type Stack } from './helpers/stack.ts';

const run = promisify(execFile);

let stack: Stack;
let built: BuiltEntry[];
beforeAll(async () => {
  built = await buildAll();
  stack = await startStack({ built: true });
}, 120_000);
afterAll(async () => stack?.stop());

describe('pnpm build', () => {
  it('builds every app that has src/main.ts, and the operator CLI', () => {
    const apps = readdirSync(path.join(REPO_ROOT, 'apps')).filter((a) => existsSync(path.join(REPO_ROOT, 'apps', a, 'src', 'main.ts')));
    expect(apps).toEqual(expect.arrayContaining(['api', 'edge', 'agent', 'cli']));
    const outs = buildEntries().map((e) => path.relative(REPO_ROOT, e.outfile));
    for (const a of apps) expect(outs).toContain(`apps/${a}/dist/main.js`);
    expect(outs).toContain('apps/cli/dist/main.js');
    for (const o of outs) expect(existsSync(path.join(REPO_ROOT, o)), o).toBe(true);
  });

  it('leaves in each bundle only node builtins and the unbundlable packages its app declares', () => {
    const builtins = new Set(builtinModules);
    for (const e of built) {
      const deps = Object.keys(
        (JSON.parse(readFileSync(path.join(REPO_ROOT, 'apps', e.app, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {},
      );
      for (const s of e.externalImports) {
        if (s.startsWith('node:') || builtins.has(s) || s.endsWith('.node')) continue;
        const pkg = s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : (s.split('/')[0] ?? s);
        expect(EXTERNAL, `${path.relative(REPO_ROOT, e.outfile)} imports ${s}`).toContain(pkg);
        expect(deps, `${e.app} must declare ${pkg}`).toContain(pkg);
      }
      const text = readFileSync(e.outfile, 'utf8');
      expect(text.startsWith('#!/usr/bin/env node') || !text.startsWith('#!')).toBe(true);
    }
    // The api keeps PGlite external (it loads its WASM from beside itself).
    expect(built.find((e) => e.outfile.endsWith('api/dist/main.js'))?.externalImports).toContain('@electric-sql/pglite');
  });

  it('keeps drizzle out of the agent and the edge: they import the wire (@airlock/schema), never the tables (@airlock/schema/db)', () => {
    const bundle = (suffix: string) => built.find((e) => e.outfile.endsWith(suffix));
    for (const suffix of ['agent/dist/main.js', 'edge/dist/main.js']) {
      expect(bundle(suffix)?.bundledPackages, suffix).toContain('valibot');
      expect(bundle(suffix)?.bundledPackages, suffix).not.toContain('drizzle-orm');
    }
    // The check itself sees drizzle where it is: in the api.
    expect(bundle('api/dist/main.js')?.bundledPackages).toContain('drizzle-orm');
  });

  it('the shipped systemd units start the build with plain node', () => {
    for (const app of ['api', 'edge']) {
      const unit = readFileSync(path.join(REPO_ROOT, `infra/systemd/airlock-${app}.service`), 'utf8');
      expect(unit).toMatch(new RegExp(`^ExecStart=/usr/bin/node apps/${app}/dist/main\\.js$`, 'm'));
      expect(unit).not.toMatch(/^ExecStart=.*tsx/m);
      expect(buildEntries().map((e) => path.relative(REPO_ROOT, e.outfile))).toContain(`apps/${app}/dist/main.js`);
    }
  });

  it('runs the built api and edge with plain node: a machine enrolls through them', async () => {
    for (const p of [stack.api, stack.edge]) {
      expect(p.child.spawnfile).toBe(process.execPath);
      expect(p.child.spawnargs[1]).toMatch(/^apps\/(api|edge)\/dist\/main\.js$/);
    }
    expect((await stack.admin('POST', '/api/v1/admin/sites', { site_code: 'BUILT', name: 'Built', policy: 'auto' })).status).toBe(201);
    const siteKey = await stack.admin('POST', '/api/v1/admin/sites/BUILT/enrollment-key', {});
    const key = newAgentKey();
    const e = await request(`${stack.edgeUrl}/api/v1/enroll`, {
      body: { site_code: 'BUILT', enrollment_key: siteKey.body.key, public_key: key.publicKey, hostname: 'built-1', machine_uid: 'built-machine-1' },
    });
    expect(e.status, JSON.stringify(e.body)).toBe(201);
    const v = await request(`${stack.edgeUrl}/api/v1/enroll/verify`, { body: { enrollment_id: e.body.enrollment_id, signature: key.sign(e.body.enrollment_id, e.body.challenge) } });
    expect(v.status).toBe(200);
    const s = await request(`${stack.edgeUrl}/api/v1/enroll/status`, { headers: { authorization: `Bearer ${v.body.poll_token}` } });
    expect(s.status).toBe(200);
    expect(s.body.credentials.agent_key).toMatch(/^cak_/);
    // Migrations were found from dist/ too: the api says it is ready.
    expect((await fetch(`${stack.apiUrl}/readyz`)).status).toBe(200);
    expect((await fetch(stack.apiMetricsUrl)).status).toBe(200);
    // The console's static files travel with the build (dist/assets).
    const css = await fetch(`${stack.apiUrl}/console/assets/console.css`);
    expect(css.status).toBe(200);
    expect(await css.text()).toContain('{');
  });

  it('bin/airlock-agent runs the built agent with plain node', async () => {
    const { stdout } = await run(path.join(REPO_ROOT, 'bin/airlock-agent'), ['--help'], { cwd: REPO_ROOT });
    expect(stdout).toMatch(/^airlock-agent /);
  });

  it('bin/airlock prints nothing but the CLI output: --json pipes straight into a JSON parser', async () => {
    const { stdout } = await run(path.join(REPO_ROOT, 'bin/airlock'), ['sites', 'list', '--json'], {
      cwd: REPO_ROOT,
      env: { ...process.env, AIRLOCK_API_URL: stack.apiUrl, AIRLOCK_TOKEN: stack.adminToken },
    });
    const parsed = JSON.parse(stdout) as { items: Array<{ site_code: string }> };
    expect(parsed.items.map((i) => i.site_code)).toContain('BUILT');
  });
});
