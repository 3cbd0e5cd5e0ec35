import { issuesToFields, REPEATABLE_QUERY_PARAMS, Uuid } from '@airlock/schema';
import type { Context } from 'hono';
import * as v from 'valibot';
import { ApiError } from '../errors.ts';

export const MAX_BODY_BYTES = 16 * 1024;

/**
 * Reads a JSON body strictly: JSON media type (415), at most 16 KiB unless the route says otherwise (413),
 * parseable JSON, then the schema (400 with per-field problems, never values).
 * Every refusal is audited (field names only); `auditEvent` names the row.
 */
export const readJson = async <S extends v.GenericSchema>(
  c: Context,
  schema: S,
  auditEvent = 'request.invalid',
  maxBytes = MAX_BODY_BYTES,
): Promise<v.InferOutput<S>> => {
  // A stranger's malformed body concerns nothing real: counted, not one row each (an operator's still gets its row).
  const audit = (fields: string[]) => ({ eventType: auditEvent, anonymous: true, details: { route: c.req.routePath, fields } });
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\s*(;\s*charset=utf-8\s*)?$/i.test(type)) {
    throw new ApiError('unsupported_media_type', 'The body must be application/json', { audit: audit(['_body']) });
  }
  const declared = Number(c.req.header('content-length') ?? '0');
  const tooLarge = () => new ApiError('payload_too_large', `The body is larger than ${maxBytes / 1024} KiB`, { audit: audit(['_body']) });
  if (!Number.isFinite(declared) || declared > maxBytes) throw tooLarge();
  const buf = await c.req.arrayBuffer();
  if (buf.byteLength > maxBytes) throw tooLarge();
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf));
  } catch {
    throw new ApiError('invalid_request', 'The body is not valid JSON', { fields: { _body: 'is not valid JSON' }, audit: audit(['_body']) });
  }
  const parsed = v.safeParse(schema, json);
  if (!parsed.success) {
    const fields = issuesToFields(parsed.issues);
    throw new ApiError('invalid_request', 'Invalid request', { fields, audit: audit(Object.keys(fields)) });
  }
  return parsed.output;
};

const invalidQuery = (c: Context, fields: Record<string, string>) =>
  new ApiError('invalid_request', 'Invalid query', {
    fields,
    audit: { eventType: 'request.invalid', anonymous: true, details: { route: c.req.routePath, fields: Object.keys(fields) } },
  });

const REPEATABLE: ReadonlySet<string> = new Set(REPEATABLE_QUERY_PARAMS);

/**
 * Query parameters through a schema; unknown parameters are refused like
 * unknown body fields, and so is a repeated one, except the few the wire
 * declares repeatable (`label`), which reach the schema as a list.
 */
export const readQuery = <S extends v.GenericSchema>(c: Context, schema: S): v.InferOutput<S> => {
  const url = new URL(c.req.url);
  const query: Record<string, string | string[]> = {};
  for (const [k, val] of url.searchParams) {
    const seen = query[k];
    if (REPEATABLE.has(k)) query[k] = Array.isArray(seen) ? [...seen, val] : [val];
    else if (seen !== undefined) throw invalidQuery(c, { [k]: 'is repeated' });
    else query[k] = val;
  }
  const parsed = v.safeParse(schema, query);
  if (!parsed.success) throw invalidQuery(c, issuesToFields(parsed.issues));
  return parsed.output;
};

/** A path parameter that must be a UUID: anything else cannot name a row, so 404. */
export const uuidParam = (c: Context, name: string): string => {
  const parsed = v.safeParse(Uuid, c.req.param(name) ?? '');
  if (!parsed.success) throw new ApiError('not_found', 'Not found');
  return parsed.output.toLowerCase();
};

/**
 * For routes whose body is optional: an empty request is `{}` through the
 * same schema; any body present is read as strictly as readJson reads it.
 */
export const readOptionalJson = async <S extends v.GenericSchema>(c: Context, schema: S): Promise<v.InferOutput<S>> => {
  const length = c.req.header('content-length');
  const empty = length === '0' || (length === undefined && c.req.header('transfer-encoding') === undefined);
  if (!empty) return readJson(c, schema);
  const parsed = v.safeParse(schema, {});
  if (!parsed.success) throw new ApiError('invalid_request', 'Invalid request', { fields: issuesToFields(parsed.issues) });
  return parsed.output;
};
