// Biome exits 0 on info-level findings (useTemplate, useLiteralKeys, ...). This fails on those too. Run after
// `biome ci`, which has already failed on errors (the 80-line function and 600-line file limits among them),
// warnings and formatting.
import { execFileSync } from 'node:child_process';

let out;
try {
  out = execFileSync('npx', ['biome', 'lint', '--reporter=json', '--colors=off', '--max-diagnostics=none', '.'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
} catch (e) {
  out = e.stdout; // non-zero exit on errors: the report is still on stdout
}
const { diagnostics } = JSON.parse(out);
const where = (d) => `${d.location.path}:${d.location.start?.line ?? 0}`;
for (const d of diagnostics) console.error(`${where(d)} ${d.category} (${d.severity}): ${d.message}`);
if (diagnostics.length > 0) {
  console.error(`lint: ${diagnostics.length} diagnostic(s); fix them (npx biome lint .)`);
  process.exit(1);
}
console.log('lint: no diagnostics');
