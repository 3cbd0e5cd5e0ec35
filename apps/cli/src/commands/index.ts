import type { Command } from '../context.ts';
import { agentsLabelCommand, agentsListCommand, revokeAgentCommand } from './agents.ts';
import { auditCommand, auditPruneCommand, auditRefusalsCommand } from './audit.ts';
import { doctorCommand } from './doctor.ts';
import { codesCreateCommand, codesListCommand, codesRevokeCommand } from './codes.ts';
import { approveCommand, enrollmentsListCommand, pendingCommand, rejectCommand } from './enrollments.ts';
import { lockoutsClearCommand, lockoutsListCommand } from './lockouts.ts';
import { migrateCommand } from './migrate.ts';
import {
  operatorsClearSignInCommand,
  operatorsCreateCommand,
  operatorsDisableCommand,
  operatorsListCommand,
  operatorsSetPasswordCommand,
} from './operators.ts';
import {
  sitesCreateCommand,
  sitesKeyRotateCommand,
  sitesKeyShowCommand,
  sitesListCommand,
  sitesUpdateCommand,
  tenantsCreateCommand,
  tenantsListCommand,
} from './sites.ts';
import { tunnelHostKeysCommand, tunnelRetireHostKeyCommand } from './tunnel.ts';
import {
  webhooksAddCommand,
  webhooksDeliveriesCommand,
  webhooksListCommand,
  webhooksRemoveCommand,
  webhooksRotateSecretCommand,
  webhooksTestCommand,
} from './webhooks.ts';

/** Every command, in the order the overview lists them (roughly the order of first use). */
export const COMMANDS: readonly Command[] = [
  migrateCommand,
  operatorsCreateCommand,
  operatorsListCommand,
  operatorsDisableCommand,
  operatorsSetPasswordCommand,
  operatorsClearSignInCommand,
  tenantsListCommand,
  tenantsCreateCommand,
  sitesListCommand,
  sitesCreateCommand,
  sitesUpdateCommand,
  sitesKeyRotateCommand,
  sitesKeyShowCommand,
  codesCreateCommand,
  codesListCommand,
  codesRevokeCommand,
  pendingCommand,
  enrollmentsListCommand,
  approveCommand,
  rejectCommand,
  agentsListCommand,
  agentsLabelCommand,
  revokeAgentCommand,
  auditCommand,
  auditRefusalsCommand,
  auditPruneCommand,
  lockoutsListCommand,
  lockoutsClearCommand,
  tunnelHostKeysCommand,
  tunnelRetireHostKeyCommand,
  webhooksAddCommand,
  webhooksListCommand,
  webhooksRemoveCommand,
  webhooksTestCommand,
  webhooksDeliveriesCommand,
  webhooksRotateSecretCommand,
  doctorCommand,
];
