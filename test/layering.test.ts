import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The import arrows between the rooms of src/ (docs: the developers' guide). One room may import another
 * only along these arrows; a new top-level folder must be added here deliberately. `typeOnly` rooms may be
 * imported only with `import type` / `export type` (their values would drag in code the room must not load).
 */
const ARROWS: Record<string, { may: string[]; typeOnly?: string[] }> = {
  gen: { may: [] },
  shared: { may: [] },
  backends: { may: ['gen', 'shared'] },
  models: { may: ['backends', 'gen', 'shared'] },
  server: { may: ['models', 'backends', 'gen', 'shared'] },
  measure: { may: ['shared', 'gen'], typeOnly: ['gen'] },
  client: { may: ['gen', 'measure', 'shared'] },
  local: { may: ['backends', 'models', 'measure', 'shared', 'gen'] },
  // The lab starts the server, the edge and the tunnels as processes; it never imports their internals.
  lab: { may: ['shared', 'gen'] },
  // The browser page (bundled by esbuild): the client's rules, nothing of the server's.
  web: { may: ['gen', 'measure', 'shared'] },
};

const REPO = path.resolve(__dirname, '..', '..');
const SRC = path.join(REPO, 'src');

interface Import {
  line: number;
  specifier: string;
  typeOnly: boolean;
}

/**
 * Blanks out comments, keeping strings (a '/*' inside a string is not a comment) and every newline, so line
 * numbers still match the file.
 */
function stripComments(text: string): string {
  let out = '';
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === quote || (c === '\n' && quote !== '`')) quote = undefined; // a quote inside a regex literal must not swallow the file
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop - 1;
    } else {
      if (c === "'" || c === '"' || c === '`') quote = c;
      out += c;
    }
  }
  return out;
}

/** Every static import/export-from, side-effect import, require('…') and import('…') with a literal specifier. */
export function importsOf(text: string): Import[] {
  const code = stripComments(text);
  const out: Import[] = [];
  const lineAt = (i: number): number => code.slice(0, i).split('\n').length;
  const patterns: Array<{ re: RegExp; typeOnly: (m: RegExpExecArray) => boolean }> = [
    // import x from '…' / import { a } from '…' / import type … from '…' / export { a } from '…' / export * from '…'
    { re: /\b(import|export)(\s+type)?\s+[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g, typeOnly: (m) => m[2] !== undefined },
    // import '…' (side effect)
    { re: /\bimport\s*['"]([^'"]+)['"]/g, typeOnly: () => false },
    // require('…'), import('…'), import x = require('…')
    { re: /\b(?:require|import)\s*\(\s*['"`]([^'"`$]+)['"`]\s*\)/g, typeOnly: () => false },
  ];
  for (const { re, typeOnly } of patterns) {
    for (let m = re.exec(code); m !== null; m = re.exec(code)) {
      const specifier = m[m.length - 1];
      // The specifier's own position, so a multi-line import reports the line of its `from`.
      out.push({ line: lineAt(m.index + m[0].lastIndexOf(specifier)), specifier, typeOnly: typeOnly(m) });
    }
  }
  return out.sort((a, b) => a.line - b.line);
}

/** The room (top-level folder of src/) a file is in, or undefined when it is outside src/. */
function roomOf(absFile: string): string | undefined {
  const rel = path.relative(SRC, absFile);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  const parts = rel.split(path.sep);
  return parts.length > 1 ? parts[0] : '(src root)';
}

/** Broken arrows in one file's text, as "src/a/b.ts:12: a → c (…)" lines. */
export function violationsIn(absFile: string, text: string): string[] {
  const from = roomOf(absFile)!;
  const relFile = path.relative(REPO, absFile);
  const rule = ARROWS[from];
  if (!rule) {
    return [`${relFile}: '${from}' is not a known room of src/ (${Object.keys(ARROWS).join(', ')}); place it in test/layering.test.ts ARROWS deliberately`];
  }
  const out: string[] = [];
  for (const imp of importsOf(text)) {
    if (!imp.specifier.startsWith('.')) continue; // a package
    const target = path.resolve(path.dirname(absFile), imp.specifier);
    const to = roomOf(target);
    const where = `${relFile}:${imp.line}`;
    if (to === undefined) {
      out.push(`${where}: ${from} → outside src/ ('${imp.specifier}'); src/ imports nothing from bench/, test/ or elsewhere`);
    } else if (to === from) {
      continue;
    } else if (!rule.may.includes(to)) {
      const allowed = rule.may.length > 0 ? rule.may.join(', ') : 'nothing of ours';
      out.push(`${where}: ${from} → ${to} ('${imp.specifier}') goes against the arrows; ${from} may import ${allowed}`);
    } else if (rule.typeOnly?.includes(to) && !imp.typeOnly) {
      out.push(`${where}: ${from} → ${to} ('${imp.specifier}') must be \`import type\`: ${from} may use ${to}'s types only`);
    }
  }
  return out;
}

function tsFilesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? tsFilesUnder(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

describe('layering: imports in src/ follow the arrows between rooms', () => {
  it('every import in src/**/*.ts goes along an arrow', () => {
    const files = tsFilesUnder(SRC);
    expect(files.length, 'found the sources').to.be.greaterThan(50);
    const texts = files.map((f) => ({ f, text: fs.readFileSync(f, 'utf8') }));
    // Every line that starts a relative import is seen by the checker (nothing hidden by its comment scanner).
    for (const { f, text } of texts) {
      const starts = text.split('\n').filter((l) => /^(import|export)\b.*\bfrom '\.\.?\//.test(l)).length;
      const found = importsOf(text).filter((i) => i.specifier.startsWith('.')).length;
      expect(found, `relative imports found in ${path.relative(REPO, f)}`).to.be.at.least(starts);
    }
    const broken = texts.flatMap(({ f, text }) => violationsIn(f, text));
    expect(broken, `imports against the arrows:\n  ${broken.join('\n  ')}\n`).to.deep.equal([]);
  });

  it('every top-level folder of src/ is a known room', () => {
    const rooms = fs.readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    const unknown = rooms.filter((r) => !(r in ARROWS));
    expect(unknown, `folders of src/ with no place in the arrows (add them to ARROWS deliberately): ${unknown.join(', ')}`).to.deep.equal([]);
    const loose = fs.readdirSync(SRC).filter((n) => n.endsWith('.ts'));
    expect(loose, 'files directly under src/ belong to no room').to.deep.equal([]);
  });

  describe('the checker itself', () => {
    const file = path.join(SRC, 'client', 'example.ts');

    it('finds every kind of import, with its line, and ignores commented-out ones', () => {
      const text = [
        "import { a } from '../shared/a';", // 1
        'import {', // 2
        '  b,', // 3
        "} from '../server/b';", // 4
        "import type { C } from '../models/c';", // 5
        "export { d } from '../backends/d';", // 6
        "import '../local/side-effect';", // 7
        "const e = require('../server/e');", // 8
        "const f = import('../server/f');", // 9
        "// import { g } from '../server/g';", // 10
        "/* import { h } from '../server/h'; */", // 11
        "import x = require('../server/x');", // 12
        "const glob = 'dist/**/*.js'; // a '/*' in a string opens no comment", // 13
        "import { y } from '../server/y'; // */", // 14
      ].join('\n');
      expect(importsOf(text).map((i) => `${i.line} ${i.specifier}${i.typeOnly ? ' (type)' : ''}`)).to.deep.equal([
        '1 ../shared/a',
        '4 ../server/b',
        '5 ../models/c (type)',
        '6 ../backends/d',
        '7 ../local/side-effect',
        '8 ../server/e',
        '9 ../server/f',
        '12 ../server/x',
        '14 ../server/y',
      ]);
    });

    it('names file, line and the broken arrow; allows the arrows and packages', () => {
      const text = ["import * as grpc from '@grpc/grpc-js';", "import { statusName } from '../shared/grpc-status';", "import { createLogger } from '../server/log';"].join('\n');
      expect(violationsIn(file, text)).to.deep.equal([
        "src/client/example.ts:3: client → server ('../server/log') goes against the arrows; client may import gen, measure, shared",
      ]);
    });

    it('requires type-only imports where a room may use only types', () => {
      const measureFile = path.join(SRC, 'measure', 'example.ts');
      expect(violationsIn(measureFile, "import type { Timing } from '../gen/inference/v1/inference';")).to.deep.equal([]);
      expect(violationsIn(measureFile, "import { Timing } from '../gen/inference/v1/inference';")).to.have.length(1);
    });

    it('refuses an import from outside src/ and a file in an unknown room', () => {
      expect(violationsIn(file, "import { x } from '../../test/helpers/fixtures';")[0]).to.match(/client → outside src\//);
      expect(violationsIn(path.join(SRC, 'edge', 'lab.ts'), '')[0]).to.match(/'edge' is not a known room of src\//);
    });
  });
});
