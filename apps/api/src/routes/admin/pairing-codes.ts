import { CreatePairingCodeRequest } from '@airlock/schema';
import type { Hono } from 'hono';
import * as v from 'valibot';
import type { Deps } from '../../domain/deps.ts';
import { createPairingCode, listCodes, revokeCode } from '../../domain/pairing-codes.ts';
import { readJson, readQuery, uuidParam } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const ListQuery = v.strictObject({ status: v.optional(v.picklist(['active', 'used', 'expired', 'revoked'], 'must be active, used, expired or revoked')) });

export const registerPairingCodeRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.post('/api/v1/admin/pairing-codes', async (c) => {
    const body = await readJson(c, CreatePairingCodeRequest);
    return c.json(await createPairingCode(deps, body, c.get('operator'), c.get('client')), 201);
  });
  app.get('/api/v1/admin/pairing-codes', async (c) => c.json(await listCodes(deps, readQuery(c, ListQuery).status)));
  app.delete('/api/v1/admin/pairing-codes/:id', async (c) => {
    await revokeCode(deps, uuidParam(c, 'id'), c.get('operator'), c.get('client'));
    return c.body(null, 204);
  });
};
