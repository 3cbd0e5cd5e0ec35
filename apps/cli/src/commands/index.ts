import type { Command } from '../context.ts';
import { agentsListCommand, revokeAgentCommand } from './agents.ts';
import { auditCommand, auditPruneCommand, auditRefusalsCommand } from './audit.ts';
import { doctorCommand } from './doctor.ts';
import { codesCreateCommand, codesListCommand, codesRevokeCommand } from './codes.ts';
import { approveCommand, enrollmentsListCommand, pendingCommand, rejectCommand } from './enrollments.ts';
import { installersAllowedSignersCommand, installersRotateSigningKeyCommand, sitesInstallerCommand } from './installers.ts';
import { lockoutsClearCommand, lockoutsListCommand } from './lockouts.ts';
import { migrateCommand } from './migrate.ts';
import {
  operatorsClearSignInCommand,
  operatorsCreateCommand,
  operatorsDisableCommand,
  operatorsListCommand,
  operatorsSetPasswordCommand,
} from './operators.ts';
import { sitesCreateCommand, sitesKeyRotateCommand, sitesKeyShowCommand, sitesListCommand } from './sites.ts';
import { tunnelHostKeysCommand, tunnelRetireHostKeyCommand } from './tunnel.ts';

/** Every command, in the order the overview lists them (roughly the order of first use). */
export const COMMANDS: readonly Command[] = [
  migrateCommand,
  operatorsCreateCommand,
  operatorsListCommand,
  operatorsDisableCommand,
  operatorsSetPasswordCommand,
  operatorsClearSignInCommand,
  sitesListCommand,
  sitesCreateCommand,
  sitesKeyRotateCommand,
  sitesKeyShowCommand,
  sitesInstallerCommand,
  installersAllowedSignersCommand,
  installersRotateSigningKeyCommand,
  codesCreateCommand,
  codesListCommand,
  codesRevokeCommand,
  pendingCommand,
  enrollmentsListCommand,
  approveCommand,
  rejectCommand,
  agentsListCommand,
  revokeAgentCommand,
  auditCommand,
  auditRefusalsCommand,
  auditPruneCommand,
  lockoutsListCommand,
  lockoutsClearCommand,
  tunnelHostKeysCommand,
  tunnelRetireHostKeyCommand,
  doctorCommand,
];
