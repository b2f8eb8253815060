/**
 * Vitest global setup: the tests that run `epqrng` as a user does run the
 * compiled package (bin/epqrng.js imports dist/), so dist/ is rebuilt first
 * when any source is newer than it (`npm install` built it; an edit since
 * would otherwise be tested against a stale build).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtimeMs(p) : statSync(p).mtimeMs);
  }
  return newest;
}

export default function setup(): void {
  const stamp = join(root, 'dist', 'cli', 'main.js');
  const sources = Math.max(newestMtimeMs(join(root, 'src')), statSync(join(root, 'tsconfig.build.json')).mtimeMs);
  if (existsSync(stamp) && statSync(stamp).mtimeMs >= sources) return;
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
}
