/**
 * Short ids: the tables print ids in full, the audit table their first 8
 * characters; an operator may type any unique prefix (at least 4 hex
 * characters) wherever a full id is taken. Resolution lists the candidates
 * through the api (the operator's own view) and accepts exactly one match.
 */
import { CliError } from './context.ts';

const FULL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PREFIX = /^[0-9a-f][0-9a-f-]{3,35}$/i;

/**
 * A full UUID (or anything that is not a plausible prefix) is passed through
 * untouched, so the api's own answer (404, 400) stays the authority.
 */
export const resolveIdPrefix = async (
  input: string,
  what: string,
  candidates: () => Promise<readonly { id: string }[]>,
): Promise<string> => {
  if (FULL_UUID.test(input) || !PREFIX.test(input)) return input;
  const prefix = input.toLowerCase();
  const matches = (await candidates()).filter((c) => c.id.toLowerCase().startsWith(prefix));
  if (matches.length === 1 && matches[0]) return matches[0].id;
  if (matches.length === 0) throw new CliError(`no ${what} has an id starting with ${input}`);
  const shown = matches.slice(0, 5).map((m) => m.id);
  throw new CliError(
    `${input} is ambiguous: ${matches.length} ${what}s have ids starting with it (${shown.join(', ')}${matches.length > 5 ? ', …' : ''}); type more of the id`,
  );
};
