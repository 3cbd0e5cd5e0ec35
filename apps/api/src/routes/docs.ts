/** The OpenAPI document (any operator role) and its HTML reference page (internal port, no secrets in it). */
import { ROUTES } from '@airlock/schema';
import type { Hono } from 'hono';
import type { Deps } from '../domain/deps.ts';
import { requireOperator } from '../http/auth.ts';
import type { AppEnv } from '../http/context.ts';
import { buildOpenApiDocument } from '../openapi/document.ts';
import { REFERENCE_CSP, renderReferencePage } from '../openapi/reference-page.ts';

export const registerDocsRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  // Built once: the route table does not change while the process runs.
  const doc = buildOpenApiDocument();
  const page = renderReferencePage(doc);
  app.get(ROUTES.openapi.path, requireOperator(deps, 'any'), (c) => c.json(doc));
  app.get(ROUTES.docs.path, (c) => {
    c.header('content-security-policy', REFERENCE_CSP);
    return c.html(page);
  });
};
