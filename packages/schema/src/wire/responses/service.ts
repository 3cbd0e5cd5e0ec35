/** Answers of the routes around the API itself: health probes and this API's description. */
import * as v from 'valibot';

export const Liveness = v.object({ status: v.literal('ok') });
export const Readiness = v.object({ status: v.literal('ready') });

/** The OpenAPI document: described by its own specification, so only its version and paths are held here. */
export const OpenApiDocument = v.looseObject({ openapi: v.literal('3.1.0'), paths: v.record(v.string(), v.unknown()) });
