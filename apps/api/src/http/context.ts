import type { HttpBindings } from '@hono/node-server';
import type { ConsoleSession } from '../domain/console-sessions.ts';
import type { Client } from '../domain/deps.ts';
import type { Operator } from '../store/operators.ts';

export interface AppEnv {
  Bindings: HttpBindings;
  Variables: {
    client: Client;
    operator: Operator;
    /** Set by the console's session middleware (apps/api/src/console) only. */
    consoleSession: ConsoleSession;
  };
}
