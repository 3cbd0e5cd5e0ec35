import * as fs from 'node:fs/promises';
import { parseStrict, withStateDir } from '../args.ts';
import { resolveStatePaths, type CommandContext } from '../context.ts';
import { ExitCode } from '../exit-codes.ts';
import { readCredentials, readEnrollment } from '../state.ts';
import type { AgentCommand } from './types.ts';

const STATUS_OPTIONS = {
  'state-dir': { type: 'string' },
} as const;

const HELP = `Show what this machine is enrolled as: server, site, agent id, key
fingerprint and since when. Never prints the agent key.

  airlock-agent status [--state-dir DIR]

Exit codes: 0 enrolled, 10 not enrolled (or only pending).
`;

/** `airlock-agent status`: what is enrolled where, without ever showing a secret. */
export const statusCommand: AgentCommand = {
  name: 'status',
  summary: 'show the enrollment stored on this machine',
  help: () => HELP,
  run: async (argv, ctx) => {
    const { values } = parseStrict(argv, STATUS_OPTIONS, 'status');
    return runStatus(withStateDir<{ stateDir?: string }>({}, values['state-dir']).stateDir, ctx);
  },
};

const runStatus = async (stateDir: string | undefined, ctx: CommandContext): Promise<ExitCode> => {
  const { progress } = ctx;
  const paths = resolveStatePaths(stateDir);
  const exists = await fs.stat(paths.dir).then(
    () => true,
    () => false,
  );
  const credentials = exists ? await readCredentials(paths) : null;
  const pending = exists ? await readEnrollment(paths) : null;
  if (credentials) {
    progress.plain(`Enrolled:     yes, since ${credentials.enrolled_at}`);
    progress.plain(`Agent id:     ${credentials.agent_id}`);
    progress.plain(`Site:         ${credentials.site_code}`);
    progress.plain(`Server:       ${credentials.server}`);
    progress.plain(`Host name:    ${credentials.hostname}`);
    progress.plain(`Key:          ${credentials.fingerprint} (${credentials.private_key_file})`);
    progress.plain(`Agent key:    stored in ${paths.credentials} (not shown)`);
    progress.plain(`SSH settings: ${credentials.ssh === null ? 'none issued' : 'included'}`);
  }
  if (pending) {
    if (credentials) progress.plain('');
    progress.plain(`Pending:      enrollment ${pending.enrollment_id} into site ${pending.site_code} at ${pending.server}`);
    progress.plain(`Waiting since ${pending.started_at} for approval of ${pending.fingerprint} (${pending.hostname})`);
    progress.plain('Continue with: airlock-agent enroll --resume' + (stateDir ? ` --state-dir ${stateDir}` : ''));
  }
  if (!credentials && !pending) {
    progress.plain(`Not enrolled (state directory ${paths.dir}).`);
    return ExitCode.NotEnrolled;
  }
  return credentials ? ExitCode.Ok : ExitCode.NotEnrolled;
};
