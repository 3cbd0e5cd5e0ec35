/**
 * OpenAPI 3.1 built from the route table (`ROUTES` in @airlock/schema) and
 * its valibot schemas, converted by @valibot/to-json-schema (JSON Schema
 * 2020-12, OpenAPI 3.1's dialect): request bodies and queries as a client
 * sends them, every success answer with its real schema (named answer
 * schemas become components), every refusal as the error envelope. Nothing
 * here restates a field by hand.
 */
import { ErrorEnvelope, ROUTE_LIST, responseSchemas, type ResponseSpec, type RouteSpec } from '@airlock/schema';
import { toJsonSchema, toJsonSchemaDefs, type ConversionConfig } from '@valibot/to-json-schema';
import type { GenericSchema } from 'valibot';

type Json = Record<string, unknown>;

const OBJECT_TYPES = new Set(['object', 'loose_object', 'strict_object']);
/** The named answer schemas (Site, Enrollment, …): each becomes `#/components/schemas/<name>`. */
const NAMED: Record<string, GenericSchema> = Object.fromEntries(
  Object.entries(responseSchemas as Record<string, unknown>).filter(
    (e): e is [string, GenericSchema] => typeof e[1] === 'object' && e[1] !== null && OBJECT_TYPES.has((e[1] as { type?: string }).type ?? ''),
  ),
);

// Checks (v.check, v.custom) have no JSON Schema form: the document states the
// shape and bounds; the api still enforces the rest.
const base = { target: 'draft-2020-12', errorMode: 'ignore' } as const satisfies ConversionConfig;
const answers = {
  ...base,
  typeMode: 'output',
  definitions: NAMED,
  overrideRef: ({ referenceId }) => `#/components/schemas/${referenceId}`,
} as const satisfies ConversionConfig;

const strip = (s: Json): Json => {
  const { $schema: _schema, $defs: _defs, ...rest } = s;
  return rest;
};
/** Input types: a pipe is described up to its first transformation (what the client sends). */
const requestSchema = (s: GenericSchema): Json => strip(toJsonSchema(s, { ...base, typeMode: 'input' }) as Json);
const answerSchema = (s: GenericSchema): Json => strip(toJsonSchema(s, answers) as Json);

export const openApiPath = (honoPath: string): string => honoPath.replace(/:([A-Za-z_]+)/g, '{$1}');

const response = (status: number, r: ResponseSpec): Json => {
  if ('codes' in r) {
    const headers = status === 429 ? { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } } : undefined;
    return {
      description: `${r.codes.map((c) => `\`${c}\``).join(', ')}${r.description ? `: ${r.description}` : ''}`,
      ...(headers ? { headers } : {}),
      content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorEnvelope' } } },
    };
  }
  if (r.html) return { description: r.description, content: { 'text/html': { schema: { type: 'string' } } } };
  if (!r.schema) return { description: r.description };
  return { description: r.description, content: { 'application/json': { schema: answerSchema(r.schema) } } };
};

/** Query parameters from a strict-object query schema: one parameter per entry. */
const queryParameters = (query: GenericSchema): Json[] => {
  const s = requestSchema(query);
  const props = (s.properties ?? {}) as Record<string, Json>;
  const required = new Set((s.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, schema]) => ({ name, in: 'query', required: required.has(name), schema }));
};

const operation = (r: RouteSpec & { operationId: string }): Json => {
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
    ...(r.body ? { requestBody: { required: !r.bodyOptional, content: { 'application/json': { schema: requestSchema(r.body) } } } } : {}),
    responses: Object.fromEntries(Object.entries(r.responses).map(([status, doc]) => [status, response(Number(status), doc)])),
  };
};

export const buildOpenApiDocument = (routes: ReadonlyArray<RouteSpec & { operationId: string }> = ROUTE_LIST, version = '1.0.0'): Json => {
  const paths: Record<string, Json> = {};
  for (const r of routes) (paths[openApiPath(r.path)] ??= {})[r.method] = operation(r);
  const named = toJsonSchemaDefs(NAMED, { ...base, typeMode: 'output', overrideRef: answers.overrideRef }) as Record<string, Json>;
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
      { name: 'internal', description: 'The management server (service role) and the tunnel endpoint (tunnel role)' },
      { name: 'health', description: 'Liveness and readiness' },
      { name: 'docs', description: 'This document' },
    ],
    paths,
    components: {
      schemas: { ...Object.fromEntries(Object.entries(named).map(([k, s]) => [k, strip(s)])), ErrorEnvelope: strip(toJsonSchema(ErrorEnvelope, base) as Json) },
      securitySchemes: {
        operatorToken: { type: 'http', scheme: 'bearer', description: 'An operator token (aop_…)' },
        pollToken: { type: 'http', scheme: 'bearer', description: 'The enrollment poll token (ept_…) from verify' },
      },
    },
  };
};
