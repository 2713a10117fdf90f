// Bundles the app into dist/ with esbuild: dist/index.html, dist/app.css, dist/app.js.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist');

export async function buildApp() {
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: [join(here, 'src', 'main.js')],
    bundle: true,
    format: 'esm',
    minify: true,
    sourcemap: true,
    target: 'es2022',
    outfile: join(out, 'app.js'),
    logLevel: 'warning',
  });
  for (const file of ['index.html', 'app.css']) copyFileSync(join(here, file), join(out, file));
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log('built ' + (await buildApp()));
}
