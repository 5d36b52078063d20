// Minifies tracker.js into liveinsight/static/tracker.js (committed, served as /tracker.js)
// and fails when the gzipped build exceeds the size budget.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { minify } from 'terser';

const MAX_GZIP_BYTES = 2048;
const here = dirname(fileURLToPath(import.meta.url));
const output = join(here, '..', 'liveinsight', 'static', 'tracker.js');

const source = readFileSync(join(here, 'tracker.js'), 'utf8');
const result = await minify(source, {
  ecma: 2017,
  compress: { passes: 3, unsafe_arrows: true },
  mangle: true,
  format: { comments: false, preamble: '/*! LiveInsight tracker — source: tracker/tracker.js */' },
});
const code = result.code + '\n';
mkdirSync(dirname(output), { recursive: true });
writeFileSync(output, code);

const gzipped = gzipSync(code, { level: 9 }).length;
console.log(`${output}: ${code.length} bytes, ${gzipped} bytes gzipped (budget ${MAX_GZIP_BYTES})`);
if (gzipped > MAX_GZIP_BYTES) {
  console.error('tracker.js is over its gzipped size budget');
  process.exit(1);
}
