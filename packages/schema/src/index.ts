export * from './errors.ts';
export * from './requests.ts';
export * from './tables.ts';
export * from './responses.ts';
export * from './tunnel.ts';
