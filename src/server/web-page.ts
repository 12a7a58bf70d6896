/**
 * The browser page's static files on the web port: a fixed list of the files `npm run build` writes to
 * dist/web (scripts/build-web.js), read once at start-up and served from memory. No other path reaches the
 * file system, so no request path can name a file outside that list. Every page response carries a strict
 * Content-Security-Policy: scripts and styles only from this origin (no inline code, no eval), requests
 * only to this origin, no framing.
 */
import * as fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as path from 'node:path';

/** Where `npm run build` puts the page, from dist/src/server. */
export const DEFAULT_PAGE_DIR = path.resolve(__dirname, '..', '..', 'web');

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob: mediastream:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

export interface PageFiles {
  /** False when dist/web was not built (the API still works; the page answers 503 saying so). */
  built: boolean;
  /** Answers GET/HEAD for a page path; false when `req` is not for the page (the caller answers 404). */
  serve(req: IncomingMessage, res: ServerResponse): boolean;
}

export function loadPage(dir: string = DEFAULT_PAGE_DIR): PageFiles {
  const bodies = new Map<string, Buffer>();
  for (const f of new Set(Object.values(FILES).map((x) => x.file))) {
    const p = path.join(dir, f);
    if (fs.existsSync(p)) bodies.set(f, fs.readFileSync(p));
  }
  const built = bodies.size === new Set(Object.values(FILES).map((x) => x.file)).size;
  return {
    built,
    serve(req, res): boolean {
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      const pathname = (req.url ?? '/').split('?')[0];
      const entry = FILES[pathname];
      if (!entry) return false;
      const body = bodies.get(entry.file);
      res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('referrer-policy', 'no-referrer');
      res.setHeader('cache-control', 'no-cache');
      if (!built || !body) {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('the page is not built: run npm run build\n');
        return true;
      }
      res.writeHead(200, { 'content-type': entry.type, 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    },
  };
}
