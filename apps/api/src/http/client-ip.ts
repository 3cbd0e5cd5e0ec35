import { foldIp, isTrusted, resolveForwardedFor } from '@airlock/net';
import type { BlockList } from 'node:net';

/**
 * Who is asking: the socket peer, unless the peer is a trusted proxy (the
 * edge), whose X-Forwarded-For we then believe, walking from the right past
 * our own proxies. `trustedPeer` also decides whether the edge's request id
 * is kept.
 */
export const resolveClient = (
  peer: string | undefined,
  xff: string | undefined,
  trusted: BlockList,
): { ip: string; trustedPeer: boolean } => {
  const socketIp = foldIp(peer ?? '') || 'unknown';
  const trustedPeer = isTrusted(trusted, socketIp);
  if (!trustedPeer || !xff) return { ip: socketIp, trustedPeer };
  return { ip: resolveForwardedFor(xff, trusted) ?? socketIp, trustedPeer };
};
