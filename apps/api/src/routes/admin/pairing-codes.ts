import { CreatePairingCodeRequest, PairingCodeListQuery, ROUTES, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import type { Deps } from '../../domain/deps.ts';
import { createPairingCode, listCodes, revokeCode } from '../../domain/pairing-codes.ts';
import { readJson, readQuery, uuidParam } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

export const registerPairingCodeRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.post(ROUTES.createPairingCode.path, async (c) => {
    const body = await readJson(c, CreatePairingCodeRequest);
    return c.json((await createPairingCode(deps, body, c.get('operator'), c.get('client'))) satisfies ResponseOf<'createPairingCode'>, 201);
  });
  app.get(ROUTES.listPairingCodes.path, async (c) => {
    const q = readQuery(c, PairingCodeListQuery);
    const page = await listCodes(deps, c.get('operator'), { status: q.status, siteCode: q.site_code, limit: q.limit, cursor: q.cursor });
    return c.json(page satisfies ResponseOf<'listPairingCodes'>);
  });
  app.delete(ROUTES.revokePairingCode.path, async (c) => {
    await revokeCode(deps, uuidParam(c, 'id'), c.get('operator'), c.get('client'));
    return c.body(null, 204);
  });
};
