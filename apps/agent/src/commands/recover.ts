import { parseStrict } from '../args.ts';
import { RENEW_OPTIONS, parseRenewFlags, runRenew } from './renew.ts';
import type { AgentCommand } from './types.ts';

const RECOVER_OPTIONS = {
  'state-dir': RENEW_OPTIONS['state-dir'],
  'no-tls': RENEW_OPTIONS['no-tls'],
  'ca-file': RENEW_OPTIONS['ca-file'],
  pin: RENEW_OPTIONS.pin,
  insecure: RENEW_OPTIONS.insecure,
} as const;

const HELP = `Get this agent whole again without an operator: a new agent key and certificate.

  airlock-agent recover [--state-dir DIR] [--no-tls]

The documented way back when the agent key leaked or was lost, or when the
status answer that carried the credentials never arrived (enroll then ends
with "credentials were already collected" and there is no credentials.json:
enrollment.json and the key are enough). The agent proves its enrolled key;
the server retires every previous agent key and issues a new one.
Same as: airlock-agent renew --rotate-key (which needs credentials.json).

Exit codes: 0 recovered, 5 refused (not approved, rejected or revoked),
6 rate limited, 7 network/TLS, 10 nothing to recover from, 12 busy, 1 unexpected.
`;

/**
 * `airlock-agent recover`: renew --rotate-key, also from enrollment.json when
 * credentials.json is missing. All of the work is renew's (renew.ts).
 */
export const recoverCommand: AgentCommand = {
  name: 'recover',
  summary: 'new agent key (and certificate) after a lost or leaked key or a lost status answer',
  help: () => HELP,
  run: async (argv, ctx) => {
    const { values } = parseStrict(argv, RECOVER_OPTIONS, 'recover');
    return runRenew({ ...parseRenewFlags(values), rotateKey: true, recover: true }, ctx);
  },
};
