import type { HttpBindings } from '@hono/node-server';
import type { Client } from '../domain/deps.ts';
import type { Operator } from '../store/operators.ts';

export interface AppEnv {
  Bindings: HttpBindings;
  Variables: {
    client: Client;
    operator: Operator;
  };
}
