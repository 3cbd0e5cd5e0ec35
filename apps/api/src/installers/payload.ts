/**
 * What an installer carries: the agent bundle (`pnpm build` writes
 * apps/agent/dist/main.js), the shell client, the installer script itself and
 * the systemd units, all read from the Airlock checkout the api runs from.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TarFile } from './tar.ts';

/** The checkout: the nearest directory above this module with pnpm-workspace.yaml (works from src/ and from dist/). */
const findCheckout = (): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('the Airlock checkout (pnpm-workspace.yaml) was not found above the api');
    dir = up;
  }
};

export class AgentBundleMissing extends Error {
  override readonly name = 'AgentBundleMissing';
}

export interface InstallerSources {
  /** The installer script, the template of every .run. */
  script: string;
  files: TarFile[];
}

const UNITS = ['airlock-agent-enroll.service', 'airlock-agent-tunnel.service', 'airlock-agent-renew.service', 'airlock-agent-renew.timer'];

/** Read on every build: a rebuilt agent bundle is picked up without restarting the api. */
export const readInstallerSources = (agentBundle: string | undefined): InstallerSources => {
  const root = findCheckout();
  const bundle = agentBundle ?? path.join(root, 'apps', 'agent', 'dist', 'main.js');
  if (!existsSync(bundle)) throw new AgentBundleMissing(`the agent bundle ${bundle} is missing; run \`pnpm build\` on the api host (or set AIRLOCK_AGENT_BUNDLE)`);
  const read = (...parts: string[]) => readFileSync(path.join(root, ...parts));
  const script = read('infra', 'agent', 'installer.sh');
  return {
    script: script.toString('utf8'),
    files: [
      { name: 'lib/airlock-agent.mjs', mode: 0o755, body: readFileSync(bundle) },
      { name: 'lib/airlock-enroll.sh', mode: 0o755, body: read('infra', 'agent', 'airlock-enroll.sh') },
      { name: 'lib/installer.sh', mode: 0o755, body: script },
      ...UNITS.map((u) => ({ name: `units/${u}`, mode: 0o644, body: read('infra', 'systemd', u) })),
    ],
  };
};
