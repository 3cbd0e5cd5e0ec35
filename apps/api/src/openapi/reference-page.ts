/**
 * A browsable API reference rendered on the server from the same document:
 * plain HTML, no script, no external assets, so a strict CSP
 * (`default-src 'none'; style-src 'unsafe-inline'`) holds and nothing is
 * fetched from the internet on the private network.
 */
type Json = Record<string, unknown>;

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

export const REFERENCE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

export const renderReferencePage = (doc: Json): string => {
  const paths = doc.paths as Record<string, Record<string, Json>>;
  const sections = Object.entries(paths)
    .flatMap(([p, ops]) =>
      Object.entries(ops).map(([method, op]) => {
        const responses = Object.entries(op.responses as Record<string, Json>)
          .map(([status, r]) => `<tr><td>${esc(status)}</td><td>${esc(String(r.description ?? ''))}</td></tr>`)
          .join('');
        const body = (op.requestBody as Json | undefined)?.content as Record<string, { schema: unknown }> | undefined;
        const params = (op.parameters as Json[] | undefined) ?? [];
        return `<section><h2><code>${esc(method.toUpperCase())} ${esc(p)}</code></h2>
<p>${esc(String(op.summary ?? ''))}${op.description ? ` ${esc(String(op.description))}` : ''}</p>
${params.length ? `<h3>Parameters</h3><ul>${params.map((x) => `<li><code>${esc(String(x.name))}</code> (${esc(String(x.in))}${x.required ? ', required' : ''})</li>`).join('')}</ul>` : ''}
${body ? `<h3>Request body</h3><pre>${esc(JSON.stringify(body['application/json']?.schema, null, 2))}</pre>` : ''}
<h3>Responses</h3><table>${responses}</table></section>`;
      }),
    )
    .join('\n');
  const info = doc.info as Json;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(String(info.title))}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}pre{background:#f4f4f4;padding:.5rem;overflow:auto}td{padding:.1rem .6rem;vertical-align:top}section{border-top:1px solid #ddd}</style>
</head><body><h1>${esc(String(info.title))} ${esc(String(info.version))}</h1><p>${esc(String(info.description))}</p>
<p>Machine-readable: <code>GET /api/v1/openapi.json</code> with any operator token. Errors are always <code>{"error":{"code","message"}}</code>.</p>
${sections}</body></html>`;
};
