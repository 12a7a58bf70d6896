#!/usr/bin/env node
'use strict';
// `rtinfer local …` runs the model in-process (loads tfjs/onnxruntime); every other verb is the remote
// client, which never loads a model runtime. Build first: `npm run build`.
const path = require('node:path');
const dist = path.join(__dirname, '..', 'dist', 'src');
const argv = process.argv.slice(2);
// `rtinfer ping … | head`: when the reader goes away, stop quietly as ping and cat do, instead of dying on
// an unhandled EPIPE with a stack trace.
for (const s of [process.stdout, process.stderr]) {
  s.on('error', (e) => {
    if (e && e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}
if (argv[0] === 'local') require(path.join(dist, 'local', 'cli.js')).run(argv.slice(1));
else require(path.join(dist, 'client', 'cli.js')).run(argv);
