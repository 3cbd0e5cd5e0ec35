import { issuesToFields } from '@airlock/schema';
import type { Context } from 'hono';
import * as v from 'valibot';
import { ApiError } from '../errors.ts';

export const MAX_BODY_BYTES = 16 * 1024;

/**
 * Reads a JSON body strictly: JSON media type (415), at most 16 KiB (413),
 * parseable JSON, then the schema (400 with per-field problems, never values).
 * `auditEvent` names the refusal's audit row, for the routes whose refusals
 * the contract wants recorded.
 */
export const readJson = async <S extends v.GenericSchema>(
  c: Context,
  schema: S,
  auditEvent?: string,
): Promise<v.InferOutput<S>> => {
  const audit = (fields: string[]) => (auditEvent ? { eventType: auditEvent, details: { fields } } : undefined);
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\s*(;\s*charset=utf-8\s*)?$/i.test(type)) {
    throw new ApiError('unsupported_media_type', 'The body must be application/json', { audit: audit(['_body']) });
  }
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > MAX_BODY_BYTES) throw new ApiError('payload_too_large', 'The body is larger than 16 KiB');
  const buf = await c.req.arrayBuffer();
  if (buf.byteLength > MAX_BODY_BYTES) throw new ApiError('payload_too_large', 'The body is larger than 16 KiB');
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

/** Query parameters through a schema; unknown parameters are refused like unknown body fields. */
export const readQuery = <S extends v.GenericSchema>(c: Context, schema: S): v.InferOutput<S> => {
  const url = new URL(c.req.url);
  const query: Record<string, string> = {};
  for (const [k, val] of url.searchParams) {
    if (Object.hasOwn(query, k)) throw new ApiError('invalid_request', 'Invalid query', { fields: { [k]: 'is repeated' } });
    query[k] = val;
  }
  const parsed = v.safeParse(schema, query);
  if (!parsed.success) throw new ApiError('invalid_request', 'Invalid query', { fields: issuesToFields(parsed.issues) });
  return parsed.output;
};

/** A path parameter that must be a UUID: anything else cannot name a row, so 404. */
export const uuidParam = (c: Context, name: string): string => {
  const value = c.req.param(name) ?? '';
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) {
    throw new ApiError('not_found', 'Not found');
  }
  return value.toLowerCase();
};
