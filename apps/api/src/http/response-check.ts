/**
 * Tests only (the `checkResponses` app option): every answer the api gives is
 * held to its route's entry in the route table (@airlock/schema). A success
 * must be a status the table lists and match its schema with no field the
 * schema does not name (an undocumented field could be a leak, and the
 * OpenAPI document would not tell clients about it); a refusal must be the
 * error envelope, its code one the route lists under that status. A mismatch
 * replaces the answer with a 500 naming the problem and is reported, so the
 * test that caused it fails loudly. Off in production: it reads every body twice.
 */
import { ERROR_STATUS, ErrorEnvelope, ROUTE_LIST, type ErrorCode, type RouteSpec } from '@airlock/schema';
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import * as v from 'valibot';
import type { AppEnv } from './context.ts';

/** Codes any route may answer, whatever it lists: outages, a body over the limit, a Host the api does not serve. */
const ANY_ROUTE: ReadonlySet<ErrorCode> = new Set(['internal_error', 'service_unavailable', 'payload_too_large', 'misdirected_request']);

const byMethodAndPath = new Map(ROUTE_LIST.map((r) => [`${r.method.toUpperCase()} ${r.path}`, r]));

/** The table's entry for the handler Hono matched (middleware, registered as ALL or with a wildcard, matches none). */
const routeOf = (matched: ReadonlyArray<{ method: string; path: string }>, method: string): RouteSpec | undefined => {
  for (const r of matched) {
    const spec = r.method === method ? byMethodAndPath.get(`${method} ${r.path}`) : undefined;
    if (spec) return spec;
  }
  return undefined;
};

/**
 * Keys present in `sent` that the schema's output dropped: fields the schema
 * does not name. Objects parsed by v.object keep only known keys, so what
 * the parse removed is exactly what the table does not document.
 */
export const undocumentedFields = (sent: unknown, parsed: unknown, path = ''): string[] => {
  if (Array.isArray(sent) && Array.isArray(parsed)) return sent.flatMap((s, i) => undocumentedFields(s, parsed[i], `${path}[${i}]`));
  if (typeof sent !== 'object' || sent === null || typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return [];
  const out = parsed as Record<string, unknown>;
  return Object.entries(sent as Record<string, unknown>).flatMap(([k, value]) => {
    const at = path ? `${path}.${k}` : k;
    return Object.hasOwn(out, k) ? undocumentedFields(value, out[k], at) : [at];
  });
};

/** What is wrong with one answer, or null. */
export const answerProblem = async (spec: RouteSpec, res: Response): Promise<string | null> => {
  const entry = spec.responses[res.status];
  const text = await res.clone().text();
  if (res.status < 400) {
    if (!entry || 'codes' in entry) return `status ${res.status} is not a success the route table lists`;
    if (entry.html) return res.headers.get('content-type')?.startsWith('text/html') ? null : 'not an HTML page';
    if (!entry.schema) return text === '' ? null : 'a body where the route table lists none';
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return 'not JSON';
    }
    const parsed = v.safeParse(entry.schema, json);
    if (!parsed.success) {
      const issue = parsed.issues[0];
      return `${v.getDotPath(issue) ?? 'the body'}: ${issue.message}`;
    }
    const extra = undocumentedFields(json, parsed.output);
    return extra.length ? `fields the route table does not document: ${extra.join(', ')}` : null;
  }
  let envelope;
  try {
    envelope = v.safeParse(ErrorEnvelope, JSON.parse(text));
  } catch {
    return 'a refusal that is not JSON';
  }
  if (!envelope.success) return 'a refusal that is not the error envelope';
  const { code } = envelope.output.error;
  if (ERROR_STATUS[code] !== res.status) return `${code} carries ${ERROR_STATUS[code]}, not ${res.status}`;
  if (ANY_ROUTE.has(code)) return null;
  const listed = entry && 'codes' in entry ? entry.codes : [];
  return listed.includes(code) ? null : `${res.status} ${code} is not listed for this route`;
};

/**
 * The middleware: registered first, so it sees every answer as sent
 * (refusals included, after onError). `report` receives each problem.
 */
export const checkResponses =
  (report: (problem: string) => void): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    await next();
    // A HEAD answer has no body to check.
    if (c.req.method === 'HEAD') return;
    const spec = routeOf(matchedRoutes(c), c.req.method);
    if (!spec) return;
    const problem = await answerProblem(spec, c.res);
    if (problem === null) return;
    const message = `${c.req.method} ${spec.path} answered ${c.res.status} off the route table: ${problem}`;
    report(message);
    c.res = new Response(JSON.stringify({ error: { code: 'internal_error', message: `response check: ${message}` } }), {
      status: 500,
      headers: { 'content-type': 'application/json' },
    });
  };
