import type * as http from 'node:http';

/** An unread body is never drained for a refused request: the connection is closed instead. */
export const hasBody = (req: http.IncomingMessage): boolean => {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
};

/** Reads at most `limit` bytes; beyond that the request is paused and refused. */
export const readBody = (req: http.IncomingMessage, limit: number): Promise<Buffer | 'too_large' | 'aborted'> =>
  new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        resolve('too_large');
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks, size)));
    req.on('error', () => resolve('aborted'));
    req.on('close', () => resolve('aborted'));
  });
