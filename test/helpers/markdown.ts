/**
 * Just enough Markdown for the documentation tests: fenced blocks by the
 * heading they follow, heading anchors exactly as GitHub renders them, and
 * the relative links a page makes. Code (fenced blocks, inline spans) is
 * never read as a heading or a link: `# a comment` in a sh block is not one.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import GithubSlugger from 'github-slugger';

export interface Block {
  /** The info string after the opening fence: `sh`, `ts`, or '' when none. */
  lang: string;
  body: string;
}

export interface Section {
  heading: string;
  level: number;
  blocks: Block[];
}

const FENCE = /^(\s*)(`{3,}|~{3,})(.*)$/;
const ATX = /^(#{1,6})\s+(.*?)\s*#*\s*$/;

/** Headings (outside fences) with the fenced blocks under each, in order; text before the first heading is level 0. */
const sections = (md: string): Section[] => {
  const out: Section[] = [{ heading: '', level: 0, blocks: [] }];
  let fence: { marker: string; lang: string; lines: string[] } | null = null;
  for (const line of md.split('\n')) {
    if (fence) {
      if (line.trim().startsWith(fence.marker) && line.trim().replace(/[`~]/g, '') === '') {
        out[out.length - 1]?.blocks.push({ lang: fence.lang, body: fence.lines.join('\n') + '\n' });
        fence = null;
      } else fence.lines.push(line);
      continue;
    }
    const f = FENCE.exec(line);
    if (f) {
      fence = { marker: f[2] ?? '```', lang: (f[3] ?? '').trim(), lines: [] };
      continue;
    }
    const h = ATX.exec(line);
    if (h) out.push({ heading: h[2] ?? '', level: (h[1] ?? '').length, blocks: [] });
  }
  return out;
};

/**
 * The ```sh blocks of the section whose heading starts with `heading`, and
 * of its subsections, in order. Throws when there is no such heading.
 */
export const shBlocksUnder = (md: string, heading: string): string[] => {
  const all = sections(md);
  const at = all.findIndex((s) => s.level > 0 && s.heading.startsWith(heading));
  if (at < 0) throw new Error(`no heading "${heading}"`);
  const level = all[at]?.level ?? 1;
  const end = all.findIndex((s, i) => i > at && s.level > 0 && s.level <= level);
  return all
    .slice(at, end < 0 ? undefined : end)
    .flatMap((s) => s.blocks)
    .filter((b) => b.lang === 'sh')
    .map((b) => b.body);
};

/** The heading text GitHub slugs: inline code, emphasis and link syntax removed, their text kept. */
const headingText = (raw: string): string =>
  raw
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`([^`]*)`/g, '$1')
    .replace(/(\*\*|__)(.*?)\1/g, '$2')
    .replace(/<[^>]+>/g, '');

/** Every anchor a page offers, as GitHub computes them (duplicates get -1, -2, …). */
export const anchors = (md: string): Set<string> => {
  const slugger = new GithubSlugger();
  return new Set(sections(md).filter((s) => s.level > 0).map((s) => slugger.slug(headingText(s.heading))));
};

export interface Link {
  target: string;
  line: number;
}

/** Links and images outside code: `[text](target)`, `![alt](target)`; the optional title dropped. */
export const links = (md: string): Link[] => {
  const out: Link[] = [];
  let inFence = false;
  md.split('\n').forEach((line, i) => {
    if (FENCE.test(line)) {
      inFence = !inFence;
      return;
    }
    if (inFence) return;
    const text = line.replace(/`[^`]*`/g, '');
    for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      out.push({ target: m[1] ?? '', line: i + 1 });
    }
  });
  return out;
};

/**
 * What is wrong with the relative links of one page: a file that does not
 * exist, a path that leaves the repository, or an anchor the target page
 * does not have. External URLs (a scheme) are not followed.
 */
export const brokenLinks = (root: string, file: string): string[] => {
  const problems: string[] = [];
  const md = readFileSync(path.join(root, file), 'utf8');
  const cache = new Map<string, Set<string>>();
  const anchorsOf = (abs: string) => {
    let a = cache.get(abs);
    if (!a) cache.set(abs, (a = anchors(readFileSync(abs, 'utf8'))));
    return a;
  };
  for (const { target, line } of links(md)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const [p = '', anchor] = target.split('#', 2);
    const abs = p === '' ? path.join(root, file) : path.resolve(root, path.dirname(file), decodeURI(p));
    const where = `${file}:${line} → ${target}`;
    if (path.relative(root, abs).startsWith('..')) {
      problems.push(`${where}: leaves the repository`);
      continue;
    }
    let exists = true;
    try {
      readFileSync(abs);
    } catch (err) {
      // A directory is a fine link target (GitHub lists it); anything else missing is not.
      exists = (err as NodeJS.ErrnoException).code === 'EISDIR';
    }
    if (!exists) {
      problems.push(`${where}: no such file`);
      continue;
    }
    if (anchor === undefined) continue;
    if (!abs.endsWith('.md')) problems.push(`${where}: an anchor into a file that is not Markdown`);
    else if (!anchorsOf(abs).has(anchor)) problems.push(`${where}: no heading with anchor #${anchor}`);
  }
  return problems;
};
