/**
 * `@airlock/schema`: the wire, defined once (formats, requests, responses,
 * errors, the route table). The database tables are a separate entry point,
 * `@airlock/schema/db`, so what imports the wire never carries drizzle.
 */
export * from './wire/errors.ts';
export * from './wire/formats.ts';
export * from './wire/vocabulary.ts';
export * from './wire/requests/enrollment.ts';
export * from './wire/requests/agent.ts';
export * from './wire/requests/admin.ts';
export * from './wire/requests/internal.ts';
export * from './wire/requests/queries.ts';
export * from './wire/requests/installers.ts';
export * from './wire/responses/index.ts';
/** The answer schemas by name (the OpenAPI document names its components after them). */
export * as responseSchemas from './wire/responses/index.ts';
export * from './wire/routes.ts';
