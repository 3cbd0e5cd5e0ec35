/**
 * The CLI's api client is @airlock/client, the typed client tooling authors
 * import too; `AdminClient` here is its typed subclass.
 */
export {
  AirlockClient as AdminClient,
  ApiRequestError,
  ApiUnreachableError,
  ApiUrlError,
  resolveApiUrl,
  resolveTlsTrust,
} from '@airlock/client';
