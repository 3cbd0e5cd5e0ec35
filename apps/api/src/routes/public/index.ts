import type { Hono } from 'hono';
import type { Deps } from '../../domain/deps.ts';
import type { AppEnv } from '../../http/context.ts';
import { registerAgentRoutes } from './agent.ts';
import { registerEnroll } from './enroll.ts';
import { registerEnrollStatus } from './enroll-status.ts';
import { registerEnrollVerify } from './enroll-verify.ts';

export const registerPublicRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  registerEnroll(app, deps);
  registerEnrollVerify(app, deps);
  registerEnrollStatus(app, deps);
  registerAgentRoutes(app, deps);
};
