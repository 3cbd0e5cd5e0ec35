import { ApproveRequest, EnrollmentListQuery, RejectRequest, ROUTES, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import { approveEnrollment, rejectEnrollment } from '../../domain/decisions.ts';
import type { Deps } from '../../domain/deps.ts';
import { listPendingOrAll } from '../../domain/enrollment-list.ts';
import { readJson, readQuery, uuidParam } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerEnrollmentRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.get(ROUTES.listEnrollments.path, async (c) => {
    const q = readQuery(c, EnrollmentListQuery);
    return c.json((await listPendingOrAll(deps, q.status, { limit: q.limit, cursor: q.cursor })) satisfies ResponseOf<'listEnrollments'>);
  });
  app.post(ROUTES.approveEnrollment.path, async (c) => {
    const id = uuidParam(c, 'id');
    const body = await readJson(c, ApproveRequest);
    return c.json((await approveEnrollment(deps, id, body.notes ?? null, c.get('operator').name, c.get('client'), body.identity ?? 'replace')) satisfies ResponseOf<'approveEnrollment'>);
  });
  app.post(ROUTES.rejectEnrollment.path, async (c) => {
    const id = uuidParam(c, 'id');
    const body = await readJson(c, RejectRequest);
    return c.json((await rejectEnrollment(deps, id, body.reason, c.get('operator').name, c.get('client'))) satisfies ResponseOf<'rejectEnrollment'>);
  });
};
