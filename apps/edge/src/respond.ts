/** The answers the edge gives itself: every refusal is the contract's envelope. */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { ERROR_STATUS, errorEnvelope, type ErrorCode } from '@airlock/schema';

export const sendJson = (res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}) => {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
  });
  res.end(payload);
};

/** Pre-serialised refusals: the refusal path is the one a flood meets. */
const cache = new Map<string, string>();
const payloadOf = (code: ErrorCode, message: string): string => {
  const key = `${code}\n${message}`;
  let payload = cache.get(key);
  if (payload === undefined) {
    payload = JSON.stringify(errorEnvelope(code, message));
    if (cache.size < 256) cache.set(key, payload);
  }
  return payload;
};

/** The single error path: every refusal the edge makes goes through here. */
export const sendError = (
  res: http.ServerResponse,
  code: ErrorCode,
  message: string,
  close = false,
  retryAfter?: number,
) => {
  if (res.destroyed || res.writableEnded) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = payloadOf(code, message);
  const headers: http.OutgoingHttpHeaders = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
  };
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  if (close) headers['connection'] = 'close';
  res.writeHead(ERROR_STATUS[code], headers);
  res.end(payload);
};

/** Same envelope, written straight to a socket that never became a request. */
export const rawError = (socket: Socket, code: ErrorCode, message: string) => {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const payload = payloadOf(code, message);
  const reason = http.STATUS_CODES[ERROR_STATUS[code]] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${ERROR_STATUS[code]} ${reason}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(payload)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${payload}`,
  );
  setTimeout(() => socket.destroy(), 1_000).unref();
};
