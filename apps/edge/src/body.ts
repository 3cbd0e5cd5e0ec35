import type * as http from 'node:http';

/** An unread body is never drained for a refused request: the connection is closed instead. */
export const hasBody = (req: http.IncomingMessage): boolean => {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
};

type Outcome = Buffer | 'too_large' | 'aborted';

/** Per-request reading state, kept on the request: the listeners below are shared, not per-request closures. */
interface Reading {
  chunks: Buffer[];
  size: number;
  limit: number;
  resolve: ((r: Outcome) => void) | null;
}

const READING = Symbol('airlock.body');
type Tagged = http.IncomingMessage & { [READING]?: Reading };

const finish = (req: Tagged, outcome: Outcome): void => {
  const reading = req[READING];
  if (reading === undefined || reading.resolve === null) return;
  const resolve = reading.resolve;
  reading.resolve = null;
  req.off('data', onData);
  req.off('end', onEnd);
  req.off('error', onAbort);
  req.off('close', onAbort);
  resolve(outcome);
};

function onData(this: Tagged, chunk: Buffer): void {
  const reading = this[READING];
  if (reading === undefined) return;
  reading.size += chunk.length;
  if (reading.size > reading.limit) {
    this.pause();
    finish(this, 'too_large');
    return;
  }
  reading.chunks.push(chunk);
}

function onEnd(this: Tagged): void {
  const reading = this[READING];
  if (reading === undefined) return;
  const { chunks, size } = reading;
  finish(this, chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, size));
}

function onAbort(this: Tagged): void {
  finish(this, 'aborted');
}

/** Reads at most `limit` bytes; beyond that the request is paused and refused. */
export const readBody = (req: http.IncomingMessage, limit: number): Promise<Outcome> =>
  new Promise((resolve) => {
    const tagged = req as Tagged;
    tagged[READING] = { chunks: [], size: 0, limit, resolve };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onAbort);
  });
