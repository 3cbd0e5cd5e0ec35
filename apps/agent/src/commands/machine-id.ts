import { parseStrict } from '../args.ts';
import { ExitCode } from '../exit-codes.ts';
import { FALLBACK_WARNING, deriveMachineUid, machineRoot } from '../machine-uid.ts';
import type { AgentCommand } from './types.ts';

const OPTIONS = { explain: { type: 'boolean' } } as const;

const HELP = `Print the machine uid a zero-touch enrollment sends (a SHA-256 hash; the raw
hardware ids never leave this machine and are never printed).

  airlock-agent machine-id [--explain]

--explain also lists which signals were used and why the others were not:
DMI product_uuid, board serial, the first disk's serial, and /etc/machine-id
only when none of those is readable. Run as root: the DMI ids are root-only.

Environment:
  AIRLOCK_MACHINE_ROOT   read /sys and /etc under this directory (default /)

Exit codes: 0 derived, 1 nothing readable.
`;

/** `airlock-agent machine-id [--explain]`: the derived uid, and which signals made it. */
export const machineIdCommand: AgentCommand = {
  name: 'machine-id',
  summary: 'print the machine uid zero-touch enrollment sends (--explain: which signals)',
  help: () => HELP,
  run: async (argv, ctx) => {
    const { values } = parseStrict(argv, OPTIONS, 'machine-id');
    const root = machineRoot(ctx.env);
    const derived = await deriveMachineUid(root);
    if (derived === null) {
      ctx.progress.fail({
        exitCode: ExitCode.Internal,
        title: 'No machine uid: no hardware id and no /etc/machine-id is readable.',
        action: 'Run as root, or enroll with --machine-uid UID.',
      });
      return ExitCode.Internal;
    }
    ctx.out.write(`${derived.machineUid}\n`);
    if (values.explain) {
      const lines = [
        `root: ${root}`,
        `derivation: sha256 of "airlock-machine-uid-v2" and one "name=value" line per used signal (values normalised, never shown)`,
        ...derived.used.map((u) => `used: ${u}`),
        ...derived.skipped.map((s) => `not used: ${s.label}: ${s.reason}`),
        derived.fallback ? `fallback: ${FALLBACK_WARNING}` : 'fallback: no (hardware ids only; a re-image keeps this uid)',
      ];
      ctx.out.write(`${lines.join('\n')}\n`);
    }
    return ExitCode.Ok;
  },
};
