// Builds the demo page into demo/static: app.js (the page and
// @supabase/realtime-js, bundled and minified), app.css, index.html and
// favicon.svg.
// Run it with `npm run build` from the repository root. The output depends
// only on the sources and the esbuild version pinned in package-lock.json,
// so a rebuild of unchanged sources gives the same bytes; the Go test
// TestBundleUpToDate checks that the committed files match.
import { build } from 'esbuild'
import { copyFile, mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const web = dirname(fileURLToPath(import.meta.url))
const out = process.argv[2] || join(web, '..', 'static')

await mkdir(out, { recursive: true })
await build({
  entryPoints: { app: join(web, 'app.js') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  legalComments: 'eof',
  outdir: out,
  logLevel: 'warning',
})
await build({
  entryPoints: { app: join(web, 'style.css') },
  bundle: true,
  minify: true,
  outdir: out,
  logLevel: 'warning',
})
for (const file of ['index.html', 'favicon.svg']) await copyFile(join(web, file), join(out, file))
