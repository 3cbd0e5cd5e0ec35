/**
 * Reads a console form (urlencoded, multipart or JSON) into string fields, and
 * maps them onto the admin API's own request schemas, so the console accepts
 * exactly what the API accepts.
 */
import { issuesToFields } from '@airlock/schema';
import type { Context } from 'hono';
import * as v from 'valibot';
import { ApiError } from '../errors.ts';
import { mediaType } from './security.ts';

export type FormFields = Record<string, string>;

export const readForm = async (c: Context): Promise<FormFields> => {
  const fields: FormFields = {};
  if (mediaType(c) === 'application/json') {
    let json: unknown;
    try {
      json = await c.req.json();
    } catch {
      throw new ApiError('invalid_request', 'The body is not valid JSON', { fields: { _body: 'is not valid JSON' } });
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new ApiError('invalid_request', 'The body must be a JSON object', { fields: { _body: 'must be a JSON object' } });
    }
    for (const [k, val] of Object.entries(json)) {
      if (typeof val !== 'string') throw new ApiError('invalid_request', 'Invalid request', { fields: { [k]: 'must be a string' } });
      fields[k] = val;
    }
    return fields;
  }
  const body = await c.req.parseBody();
  for (const [k, val] of Object.entries(body)) {
    if (typeof val !== 'string') throw new ApiError('invalid_request', 'Invalid request', { fields: { [k]: 'must be text' } });
    fields[k] = val;
  }
  return fields;
};

/** Optional text: an empty input means "not given". */
export const optionalText = (f: FormFields, name: string): string | undefined => {
  const value = f[name]?.trim();
  return value ? value : undefined;
};

/** Parses with a request schema; refusals carry field names only, like the API's. */
export const parseWith = <S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> => {
  const parsed = v.safeParse(schema, input);
  if (!parsed.success) {
    const fields = issuesToFields(parsed.issues);
    const summary = Object.entries(fields)
      .map(([k, p]) => `${k.replaceAll('_', ' ')} ${p}`)
      .join('; ');
    throw new ApiError('invalid_request', `Check the form: ${summary}`, { fields });
  }
  return parsed.output;
};

/** The fields an action needs besides the CSRF token; the token itself is checked by the caller. */
export const CSRF_FIELD = '_csrf';
