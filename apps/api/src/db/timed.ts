/**
 * Query timing for the metrics, without touching any query: a proxy over the
 * postgres.js client drizzle uses. drizzle runs every statement through
 * `unsafe()` and every transaction through `begin()`/`savepoint()`;
 * postgres.js queries are lazy (sent when first awaited), so the clock starts
 * in the query's `then` and stops when it settles.
 *
 * The same proxy decides whether statements are prepared: drizzle passes
 * `prepare: false` on every unnamed query, and postgres.js then sends each
 * parameterised statement in two round trips (describe, then execute). With
 * `prepare` set, a statement's text is parsed once per connection and every
 * later run is one round trip with no parse or plan on the server.
 */
export type QueryObserver = (seconds: number, ok: boolean) => void;

type Thenable = { then: (f?: (v: unknown) => unknown, r?: (e: unknown) => unknown) => Promise<unknown> };

const timeQuery = (query: Thenable, observe: () => QueryObserver | null): void => {
  const then = query.then;
  query.then = function (this: Thenable, onFulfilled, onRejected) {
    const started = performance.now();
    const done = (ok: boolean) => observe()?.((performance.now() - started) / 1000, ok);
    return then.call(
      this,
      (v) => {
        done(true);
        return onFulfilled ? onFulfilled(v) : v;
      },
      (e) => {
        done(false);
        if (onRejected) return onRejected(e);
        throw e;
      },
    );
  };
};

export const timedClient = <T extends object>(client: T, observe: () => QueryObserver | null, prepare = false): T =>
  new Proxy(client, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'unsafe') {
        return (...args: unknown[]) => {
          if (prepare && args.length >= 2) {
            const options = (args[2] ?? {}) as Record<string, unknown>;
            args = [args[0], args[1], { ...options, prepare: true }];
          }
          const query = (value as (...a: unknown[]) => Thenable).apply(target, args);
          timeQuery(query, observe);
          return query;
        };
      }
      if (prop === 'begin' || prop === 'savepoint') {
        // The transaction's own client runs the statements: time it the same way.
        return (...args: unknown[]) =>
          (value as (...a: unknown[]) => unknown).apply(
            target,
            args.map((a) => (typeof a === 'function' ? (tx: object) => (a as (t: object) => unknown)(timedClient(tx, observe, prepare)) : a)),
          );
      }
      return value;
    },
  });
