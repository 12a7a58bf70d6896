#!/usr/bin/env node
// Builds the browser page (src/web) into dist/web: typecheck with the DOM library (tsconfig.web.json), then
// one esbuild bundle (app.js, app.css: our code, connect-web, the generated stubs, src/measure, uPlot) and
// index.html. Nothing is fetched at run time: the web port serves exactly these three files.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'dist', 'web');
fs.rmSync(out, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.web.json')], { cwd: root, stdio: 'inherit' });
const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
require('esbuild').buildSync({
  entryPoints: { app: path.join(root, 'src', 'web', 'main.ts') },
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  legalComments: 'eof',
  outdir: out,
  define: { RTINFER_VERSION: JSON.stringify(version) },
  logLevel: 'warning',
});
fs.copyFileSync(path.join(root, 'src', 'web', 'index.html'), path.join(out, 'index.html'));
