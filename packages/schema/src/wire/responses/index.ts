/** Every answer schema, for the OpenAPI document's named components. */
export * from './enrollment.ts';
export * from './admin.ts';
export * from './internal.ts';
export * from './service.ts';
export * from './installers.ts';
