/** Waiting without timed assertions: poll until something is true, or fail saying what. */

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until `check` is truthy; fails with `what` after `ms`. */
export const waitFor = async <T>(check: () => T | Promise<T>, what: string, ms = 15_000): Promise<NonNullable<T>> => {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
};

