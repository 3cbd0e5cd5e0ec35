/**
 * `@airlock/testing`: what every test suite here needs and no app owns: free
 * ports, waiting, child processes, a fresh Postgres database per file, Redis
 * under a unique prefix (or a private redis-server), HTTP clients for flows,
 * raw bytes and the console, real agent keys, and the edge as a process.
 * A devDependency only; nothing in it is mocked.
 *
 * An app's in-process harness stays with the app (`@airlock/api/testing`,
 * the edge's src/testing): it needs the app's source, and this package
 * depends on no app.
 *
 * @example
 *   const port = await freePort();
 *   const db = await createTestDatabase();
 *   await waitFor(async () => (await fetch(url)).ok, 'the api to answer');
 */
export * from './agent-key.ts';
export * from './console.ts';
export * from './db.ts';
export * from './edge-process.ts';
export * from './http.ts';
export * from './machine-root.ts';
export * from './paths.ts';
export * from './ports.ts';
export * from './processes.ts';
export * from './raw-http.ts';
export * from './redis.ts';
export * from './upstream.ts';
export * from './wait.ts';
export * from './webhook-receiver.ts';
