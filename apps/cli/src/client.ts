/**
 * The CLI's api client is @airlock/client, the typed client tooling authors
 * import too; `AdminClient` here is its typed subclass.
 */
export {
  AirlockClient as AdminClient,
  ApiRequestError,
  ApiUnreachableError,
  ApiUrlError,
  DEFAULT_API_URL,
  resolveApiUrl,
  resolveTlsTrust,
} from '@airlock/client';
export type { AdminClientOptions, Query, TlsTrust } from '@airlock/client';
