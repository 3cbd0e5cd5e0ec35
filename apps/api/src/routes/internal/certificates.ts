import { CertificateVerifyRequest, ROUTES, type ResponseOf } from '@airlock/schema';
import type { Hono } from 'hono';
import { caCertificates, verifyCertificate } from '../../domain/certificates.ts';
import type { Deps } from '../../domain/deps.ts';
import { readJson } from '../../http/body.ts';
import type { AppEnv } from '../../http/context.ts';

/**
 * v1.1 internal routes for mTLS peers. Operator auth comes from the
 * `/api/v1/internal/*` middleware: GET /ca is open to every role (an auditor
 * reads, as everywhere), verify to admin and service.
 */
export const registerCertificateRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.get(ROUTES.caCertificates.path, (c) => c.json(caCertificates(deps) satisfies ResponseOf<'caCertificates'>));
  app.post(ROUTES.verifyCertificate.path, async (c) => {
    const body = await readJson(c, CertificateVerifyRequest);
    return c.json((await verifyCertificate(deps, body.certificate)) satisfies ResponseOf<'verifyCertificate'>);
  });
};
