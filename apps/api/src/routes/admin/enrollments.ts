import { ApproveRequest, ENROLLMENT_STATUSES, RejectRequest } from '@airlock/schema';
import type { Hono } from 'hono';
import * as v from 'valibot';
import { approveEnrollment, rejectEnrollment } from '../../domain/decisions.ts';
import type { Deps } from '../../domain/deps.ts';
import { listPendingOrAll } from '../../domain/enrollment-list.ts';
import { readJson, readQuery, uuidParam } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const ListQuery = v.strictObject({
  status: v.optional(v.picklist(ENROLLMENT_STATUSES, 'is not an enrollment status')),
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,3}$/, 'must be 1-500'), v.transform(Number), v.minValue(1, 'must be 1-500'), v.maxValue(500, 'must be 1-500')),
  ),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(100, 'is not a cursor from this API'))),
});

export const registerEnrollmentRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.get('/api/v1/admin/enrollments', async (c) => {
    const q = readQuery(c, ListQuery);
    return c.json(await listPendingOrAll(deps, q.status, { limit: q.limit, cursor: q.cursor }));
  });
  app.post('/api/v1/admin/enrollments/:id/approve', async (c) => {
    const id = uuidParam(c, 'id');
    const body = await readJson(c, ApproveRequest);
    return c.json(await approveEnrollment(deps, id, body.notes ?? null, c.get('operator').name, c.get('client')));
  });
  app.post('/api/v1/admin/enrollments/:id/reject', async (c) => {
    const id = uuidParam(c, 'id');
    const body = await readJson(c, RejectRequest);
    return c.json(await rejectEnrollment(deps, id, body.reason, c.get('operator').name, c.get('client')));
  });
};
