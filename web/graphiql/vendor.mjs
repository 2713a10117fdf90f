#!/usr/bin/env node
// Copies the GraphiQL page's third-party files, byte for byte as shipped in
// the pinned npm tarballs, from node_modules into assets/vendor/.
//
//   npm ci                      # installs exactly what package-lock.json pins
//   node vendor.mjs             # (re)write assets/vendor/ + assets/vendor/SHA256SUMS
//   node vendor.mjs --check     # exit 1 unless assets/vendor/ equals node_modules (sha256)
//
// Nothing is built or transformed: each file is a package's own distributed file.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, 'assets', 'vendor');

// [package, path inside the package, file name under assets/vendor/]
const FILES = [
  ['graphiql', 'graphiql.min.js', 'graphiql.min.js'], // == dist/index.umd.js (UMD, global `GraphiQL`)
  ['graphiql', 'graphiql.min.css', 'graphiql.min.css'], // == dist/style.css
  ['graphiql', 'LICENSE', 'LICENSE.graphiql'],
  ['react', 'umd/react.production.min.js', 'react.production.min.js'], // global `React`
  ['react', 'LICENSE', 'LICENSE.react'],
  ['react-dom', 'umd/react-dom.production.min.js', 'react-dom.production.min.js'], // global `ReactDOM`
  ['react-dom', 'LICENSE', 'LICENSE.react-dom'],
];
const SUMS = 'SHA256SUMS';

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const pinned = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')).dependencies;

const problems = [];
const sums = [];
for (const pkg of new Set(FILES.map(([p]) => p))) {
  const pj = join(here, 'node_modules', pkg, 'package.json');
  if (!existsSync(pj)) { problems.push(`${pkg}: not installed (run npm ci)`); continue; }
  const { version } = JSON.parse(readFileSync(pj, 'utf8'));
  if (version !== pinned[pkg]) problems.push(`${pkg}: installed ${version}, package.json pins ${pinned[pkg]}`);
}
if (problems.length) { console.error(problems.join('\n')); process.exit(1); }

const check = process.argv.includes('--check');
if (!check) mkdirSync(outDir, { recursive: true });
for (const [pkg, src, dest] of FILES) {
  const { version } = JSON.parse(readFileSync(join(here, 'node_modules', pkg, 'package.json'), 'utf8'));
  const want = readFileSync(join(here, 'node_modules', pkg, src));
  const line = `${sha256(want)}  ${dest}  (${pkg}@${version}/${src}, ${want.length} bytes)`;
  sums.push(line);
  const out = join(outDir, dest);
  if (check) {
    if (!existsSync(out)) problems.push(`missing: assets/vendor/${dest}`);
    else if (sha256(readFileSync(out)) !== sha256(want)) problems.push(`differs: assets/vendor/${dest} != ${pkg}/${src}`);
  } else {
    writeFileSync(out, want);
  }
  console.log(line);
}
const sumsText = sums.join('\n') + '\n';
if (check) {
  const expected = new Set([...FILES.map(([, , d]) => d), SUMS]);
  for (const f of existsSync(outDir) ? readdirSync(outDir) : [])
    if (!expected.has(f)) problems.push(`unexpected file: assets/vendor/${f}`);
  const sumsPath = join(outDir, SUMS);
  if (!existsSync(sumsPath) || readFileSync(sumsPath, 'utf8') !== sumsText)
    problems.push(`assets/vendor/${SUMS} is stale`);
  if (problems.length) { console.error('CHECK FAILED:\n' + problems.join('\n')); process.exit(1); }
  console.log('check ok: assets/vendor matches node_modules');
} else {
  writeFileSync(join(outDir, SUMS), sumsText);
  console.log(`wrote ${FILES.length} files + ${SUMS} to assets/vendor/`);
}
