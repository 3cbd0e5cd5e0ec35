/**
 * OpenAPI 3.1 built from the route table (routes.ts) and the valibot schemas
 * the routes parse with, converted by @valibot/to-json-schema (JSON Schema
 * 2020-12, OpenAPI 3.1's dialect). Nothing here restates a field by hand.
 */
import { ERROR_STATUS } from '@airlock/schema';
import { toJsonSchema } from '@valibot/to-json-schema';
import type { GenericSchema } from 'valibot';
import { ROUTES, type ResponseDoc, type RouteDoc } from './routes.ts';

type Json = Record<string, unknown>;

/** Input types only: a pipe is described up to its first transformation (what the client sends). */
const schemaOf = (s: GenericSchema): Json => {
  const { $schema: _drop, ...rest } = toJsonSchema(s, { target: 'draft-2020-12', typeMode: 'input', errorMode: 'ignore' }) as Json;
  return rest;
};

export const openApiPath = (honoPath: string): string => honoPath.replace(/:([A-Za-z_]+)/g, '{$1}');

const ERROR_ENVELOPE: Json = {
  type: 'object',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      properties: {
        code: { type: 'string', enum: Object.keys(ERROR_STATUS) },
        message: { type: 'string' },
        fields: { type: 'object', additionalProperties: { type: 'string' }, description: 'On 400 only: field name → problem' },
      },
    },
  },
};

const response = (status: number, r: ResponseDoc): Json => {
  if ('codes' in r) {
    const headers = status === 429 ? { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } } : undefined;
    return {
      description: `${r.codes.map((c) => `\`${c}\``).join(', ')}${r.description ? `: ${r.description}` : ''}`,
      ...(headers ? { headers } : {}),
      content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorEnvelope' } } },
    };
  }
  return status === 204 ? { description: r.description } : { description: r.description, content: { 'application/json': { schema: { type: 'object' } } } };
};

/** Query parameters from a strict-object query schema: one parameter per entry. */
const queryParameters = (query: GenericSchema): Json[] => {
  const s = schemaOf(query);
  const props = (s.properties ?? {}) as Record<string, Json>;
  const required = new Set((s.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, schema]) => ({ name, in: 'query', required: required.has(name), schema }));
};

const operation = (r: RouteDoc): Json => {
  const parameters = [
    ...Object.entries(r.params ?? {}).map(([name, description]) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } })),
    ...(r.query ? queryParameters(r.query) : []),
  ];
  const security = r.auth === 'operator' ? [{ operatorToken: [] }] : r.auth === 'poll_token' ? [{ pollToken: [] }] : [];
  return {
    operationId: r.operationId,
    summary: r.summary,
    tags: [r.area],
    ...(r.roles ? { description: `Operator roles: ${r.roles.join(', ')}.` } : {}),
    security,
    ...(parameters.length ? { parameters } : {}),
    ...(r.body
      ? { requestBody: { required: !r.bodyOptional, content: { 'application/json': { schema: schemaOf(r.body) } } } }
      : {}),
    responses: Object.fromEntries(
      Object.entries(r.responses).map(([status, doc]) => [status, response(Number(status), doc)]),
    ),
  };
};

export const buildOpenApiDocument = (routes: readonly RouteDoc[] = ROUTES, version = '1.0.0'): Json => {
  const paths: Record<string, Json> = {};
  for (const r of routes) (paths[openApiPath(r.path)] ??= {})[r.method] = operation(r);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Airlock api',
      version,
      description:
        'Enrollment of remote appliances. Public routes are reached through the edge; admin and internal routes only on the private network. Every refusal is the error envelope.',
    },
    servers: [{ url: '/', description: 'the api (internal port)' }],
    tags: [
      { name: 'public', description: 'Enrollment (forwarded by the edge)' },
      { name: 'admin', description: 'Operators: admin (everything), auditor (GET only)' },
      { name: 'internal', description: 'The management server: service role' },
      { name: 'health', description: 'Liveness and readiness' },
      { name: 'docs', description: 'This document' },
    ],
    paths,
    components: {
      schemas: { ErrorEnvelope: ERROR_ENVELOPE },
      securitySchemes: {
        operatorToken: { type: 'http', scheme: 'bearer', description: 'An operator token (aop_…)' },
        pollToken: { type: 'http', scheme: 'bearer', description: 'The enrollment poll token (ept_…) from verify' },
      },
    },
  };
};
