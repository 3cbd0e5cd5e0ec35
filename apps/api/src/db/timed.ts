/**
 * Query timing for the metrics, without touching any query: a proxy over the
 * postgres.js client drizzle uses. drizzle runs every statement through
 * `unsafe()` and every transaction through `begin()`/`savepoint()`;
 * postgres.js queries are lazy (sent when first awaited), so the clock starts
 * in the query's `then` and stops when it settles.
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

export const timedClient = <T extends object>(client: T, observe: () => QueryObserver | null): T =>
  new Proxy(client, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'unsafe') {
        return (...args: unknown[]) => {
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
            args.map((a) => (typeof a === 'function' ? (tx: object) => (a as (t: object) => unknown)(timedClient(tx, observe)) : a)),
          );
      }
      return value;
    },
  });
