import { foldIp, isTrusted, resolveForwardedFor } from '@airlock/net';
import type { BlockList } from 'node:net';

/**
 * Who is asking: the socket peer, unless the peer is a trusted proxy (the
 * edge), whose X-Forwarded-For we then believe, walking from the right past
 * our own proxies. `trustedPeer` also decides whether the edge's request id
 * is kept.
 */
// The socket peer is almost always one of a few edges: remember the verdict
// (BlockList.check builds a SocketAddress per call, a visible share of a
// cheap request). Bounded; the trust list is fixed for the process's life.
const verdicts = new WeakMap<BlockList, Map<string, boolean>>();
const MAX_REMEMBERED_PEERS = 1024;
const trustedPeerCached = (trusted: BlockList, ip: string): boolean => {
  let seen = verdicts.get(trusted);
  if (!seen) verdicts.set(trusted, (seen = new Map()));
  let verdict = seen.get(ip);
  if (verdict === undefined) {
    verdict = isTrusted(trusted, ip);
    if (seen.size >= MAX_REMEMBERED_PEERS) seen.clear();
    seen.set(ip, verdict);
  }
  return verdict;
};

export const resolveClient = (
  peer: string | undefined,
  xff: string | undefined,
  trusted: BlockList,
): { ip: string; trustedPeer: boolean } => {
  const socketIp = foldIp(peer ?? '') || 'unknown';
  const trustedPeer = trustedPeerCached(trusted, socketIp);
  if (!trustedPeer || !xff) return { ip: socketIp, trustedPeer };
  return { ip: resolveForwardedFor(xff, trusted) ?? socketIp, trustedPeer };
};
