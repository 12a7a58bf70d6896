#!/usr/bin/env node
'use strict';
// `rtinfer local …` runs the model in-process (loads tfjs/onnxruntime); every other verb is the remote
// client, which never loads a model runtime. Build first: `npm run build`.
const path = require('node:path');
const dist = path.join(__dirname, '..', 'dist', 'src');
const argv = process.argv.slice(2);
if (argv[0] === 'local') require(path.join(dist, 'local', 'cli.js')).run(argv.slice(1));
else require(path.join(dist, 'client', 'cli.js')).run(argv);
