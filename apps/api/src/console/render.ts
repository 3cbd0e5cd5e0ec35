/** Sends a whole console page. */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { HtmlEscapedString } from 'hono/utils/html';

type Rendered = HtmlEscapedString | Promise<HtmlEscapedString>;

/**
 * A full page with its doctype (without one, browsers render in quirks mode).
 * The doctype is a constant; everything after it is hono/jsx's escaped output.
 */
export const sendPage = async (c: Context, page: Rendered, status: ContentfulStatusCode = 200): Promise<Response> =>
  c.html(`<!DOCTYPE html>${(await page).toString()}`, status);
