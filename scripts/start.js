#!/usr/bin/env node
// `npm start`: runs the built server (dist/) without compiling. `npm install` builds once (the `prepare`
// script) and `npm run dev` rebuilds then starts. A missing or stale dist/ (after a git pull, or an edit
// without a build) is said plainly here instead of surfacing as a module-not-found stack trace or as
// yesterday's code running. The check compares file times only: no tsc on the hot path.
// Sources are src/**/*.ts plus the page's index.html and app.css (built into dist/web).
// Plain JavaScript so it runs before anything is built.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const entry = path.join(root, 'dist', 'src', 'server', 'main.js');
// `npm run build` touches dist/.built; a bare `tsc` run updates dist/.tsbuildinfo only when an output changed.
const stamps = [path.join(root, 'dist', '.built'), path.join(root, 'dist', '.tsbuildinfo')];

function newestSource(dir) {
  let newest = { file: '', mtimeMs: 0 };
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    const cand = e.isDirectory() ? newestSource(p) : /\.(ts|html|css)$/.test(e.name) ? { file: p, mtimeMs: fs.statSync(p).mtimeMs } : newest;
    if (cand.mtimeMs > newest.mtimeMs) newest = cand;
  }
  return newest;
}

function builtAt() {
  let t = 0;
  for (const s of stamps) if (fs.existsSync(s)) t = Math.max(t, fs.statSync(s).mtimeMs);
  return t || fs.statSync(entry).mtimeMs;
}

function stop(why) {
  process.stderr.write(`npm start: ${why}\n  fix: npm run build   (or npm run dev, which builds and then starts)\n`);
  process.exit(1);
}

if (!fs.existsSync(entry)) stop('the server is not built (dist/src/server/main.js is missing)');
const src = path.join(root, 'src');
// An image or install without src/ (e.g. a container holding dist/ only) has nothing to compare against.
if (fs.existsSync(src)) {
  const newest = newestSource(src);
  if (newest.mtimeMs > builtAt()) stop(`dist/ is older than the sources (${path.relative(root, newest.file)} changed since the last build)`);
}

require(entry)
  .main(process.argv.slice(2))
  .catch((err) => {
    process.stderr.write(`${err instanceof Error ? err.stack || err.message : String(err)}\n`);
    process.exit(1);
  });
