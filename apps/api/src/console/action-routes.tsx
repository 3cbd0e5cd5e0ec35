/** @jsxImportSource hono/jsx */
/**
 * The console's actions (POST). Each one checks the session's CSRF token, then
 * the admin role, then calls the very domain function the admin API calls,
 * with the admin API's own request schema.
 */
import {
  ApproveRequest,
  ClearLockoutRequest,
  CreatePairingCodeRequest,
  CreateSiteRequest,
  CreateWebhookRequest,
  RejectRequest,
  RevokeAgentRequest,
  SiteCode,
} from '@airlock/schema';
import type { Context, Hono } from 'hono';
import * as v from 'valibot';
import { revokeAgentById } from '../domain/agents.ts';
import { approveEnrollment, rejectEnrollment } from '../domain/decisions.ts';
import type { Deps } from '../domain/deps.ts';
import { liftLockout } from '../domain/lockouts.ts';
import { createPairingCode, revokeCode } from '../domain/pairing-codes.ts';
import { createSite, rotateEnrollmentKey } from '../domain/sites.ts';
import { createWebhook, deleteWebhook, testWebhook } from '../domain/webhooks.ts';
import { ApiError } from '../errors.ts';
import { uuidParam } from '../http/body.ts';
import type { AppEnv } from '../http/context.ts';
import { loadActiveCodes, loadSites, loadWebhooks, siteCodes } from './data.ts';
import { CSRF_FIELD, optionalText, parseWith, readForm, type FormFields } from './forms.ts';
import { frame } from './page-routes.tsx';
import { checkSessionCsrf, requireAdmin } from './session.ts';
import { CodesPage } from './views/codes.tsx';
import { SitesPage } from './views/sites.tsx';
import { WebhooksPage } from './views/webhooks.tsx';
import { sendPage } from './render.ts';

/** CSRF first (a forged request learns nothing else), then the role. */
const adminForm = async (c: Context<AppEnv>, deps: Deps): Promise<FormFields> => {
  const f = await readForm(c);
  checkSessionCsrf(c, deps, c.get('consoleSession'), f[CSRF_FIELD] ?? c.req.header('x-csrf-token'));
  requireAdmin(c);
  return f;
};

const siteParam = (c: Context) => {
  const parsed = v.safeParse(SiteCode, c.req.param('site_code') ?? '');
  if (!parsed.success) throw new ApiError('not_found', 'No such site');
  return parsed.output;
};

const done = (c: Context, page: string, what: string) => c.redirect(`/console/${page}?done=${what}`, 303);

export const registerActionRoutes = (app: Hono<AppEnv>, deps: Deps) => {
  app.post('/console/pending/:id/approve', async (c) => {
    const f = await adminForm(c, deps);
    const id = uuidParam(c, 'id');
    const body = parseWith(ApproveRequest, { notes: optionalText(f, 'notes'), identity: optionalText(f, 'identity') });
    await approveEnrollment(deps, id, body.notes ?? null, c.get('operator'), c.get('client'), body.identity ?? 'replace');
    return done(c, 'pending', body.identity === 'separate' ? 'approved_separate' : 'approved');
  });

  app.post('/console/pending/:id/reject', async (c) => {
    const f = await adminForm(c, deps);
    const id = uuidParam(c, 'id');
    const body = parseWith(RejectRequest, { reason: optionalText(f, 'reason') ?? '' });
    await rejectEnrollment(deps, id, body.reason, c.get('operator'), c.get('client'));
    return done(c, 'pending', 'rejected');
  });

  // The new code is in this response only: no redirect carries it, no later page shows it.
  app.post('/console/pairing-codes', async (c) => {
    const f = await adminForm(c, deps);
    const ttl = optionalText(f, 'ttl_seconds');
    const body = parseWith(CreatePairingCodeRequest, {
      site_code: f.site_code ?? '',
      ttl_seconds: ttl === undefined ? undefined : /^\d{1,6}$/.test(ttl) ? Number(ttl) : ttl,
      note: optionalText(f, 'note'),
      auto_approve: f.auto_approve === '1' || f.auto_approve === 'on',
    });
    const created = await createPairingCode(deps, body, c.get('operator'), c.get('client'));
    const op = c.get('operator');
    const [codes, sites] = await Promise.all([loadActiveCodes(deps, op), siteCodes(deps, op)]);
    return sendPage(c, <CodesPage {...frame(c, deps)} items={codes.items} sites={sites} created={created} selectedSite={created.site_code} />, 201);
  });

  app.post('/console/pairing-codes/:id/revoke', async (c) => {
    await adminForm(c, deps);
    await revokeCode(deps, uuidParam(c, 'id'), c.get('operator'), c.get('client'));
    return done(c, 'pairing-codes', 'code_revoked');
  });

  app.post('/console/agents/:id/revoke', async (c) => {
    const f = await adminForm(c, deps);
    const id = uuidParam(c, 'id');
    const body = parseWith(RevokeAgentRequest, { reason: optionalText(f, 'reason') });
    const revoked = await revokeAgentById(deps, id, body.reason ?? null, c.get('operator'), c.get('client'));
    // Issue 18: on an auto site the Agents page then offers to rotate the site's key (the site code is ours, checked again there).
    if (revoked.rotate_site_key_advised) return c.redirect(`/console/agents?done=agent_revoked&rotate=${encodeURIComponent(revoked.site_code)}`, 303);
    return done(c, 'agents', 'agent_revoked');
  });

  app.post('/console/sites', async (c) => {
    const f = await adminForm(c, deps);
    const body = parseWith(CreateSiteRequest, { site_code: f.site_code ?? '', name: f.name?.trim() ?? '', policy: f.policy || undefined });
    await createSite(deps, body, c.get('operator'), c.get('client'));
    return done(c, 'sites', 'site_created');
  });

  // Like the pairing code: the key is in this response only.
  app.post('/console/sites/:site_code/rotate-key', async (c) => {
    await adminForm(c, deps);
    const site = siteParam(c);
    const rotated = await rotateEnrollmentKey(deps, site, {}, c.get('operator'), c.get('client'));
    const sites = await loadSites(deps, c.get('operator'));
    const paging = { nextCursor: sites.nextCursor, paged: false, filter: {} };
    return sendPage(c, <SitesPage {...frame(c, deps)} items={sites.items} paging={paging} rotated={{ site_code: site, key: rotated.key, fingerprint: rotated.fingerprint }} />, 201);
  });

  app.post('/console/lockouts/lift', async (c) => {
    const f = await adminForm(c, deps);
    const body = parseWith(ClearLockoutRequest, { key: f.key ?? '' });
    await liftLockout(deps, body.key, c.get('operator'), c.get('client'));
    return done(c, 'lockouts', 'lockout_lifted');
  });

  // Like the pairing code: the webhook's secret is in this response only.
  app.post('/console/webhooks', async (c) => {
    const f = await adminForm(c, deps);
    const body = parseWith(CreateWebhookRequest, {
      url: f.url?.trim() ?? '',
      events: (optionalText(f, 'events') ?? '*').split(',').map((s) => s.trim()).filter(Boolean),
      site_code: optionalText(f, 'site_code'),
      format: optionalText(f, 'format'),
      description: optionalText(f, 'description'),
    });
    const created = await createWebhook(deps, body, c.get('operator'), c.get('client'));
    const [items, sites] = await Promise.all([loadWebhooks(deps, c.get('operator')), siteCodes(deps, c.get('operator'))]);
    return sendPage(c, <WebhooksPage {...frame(c, deps)} items={items} sites={sites} created={created} />, 201);
  });

  app.post('/console/webhooks/:id/test', async (c) => {
    await adminForm(c, deps);
    await testWebhook(deps, uuidParam(c, 'id'), c.get('operator'), c.get('client'));
    return done(c, 'webhooks', 'webhook_tested');
  });

  app.post('/console/webhooks/:id/delete', async (c) => {
    await adminForm(c, deps);
    await deleteWebhook(deps, uuidParam(c, 'id'), c.get('operator'), c.get('client'));
    return done(c, 'webhooks', 'webhook_deleted');
  });
};
