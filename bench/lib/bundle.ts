/**
 * Bench children run from an esbuild bundle (esbuild comes with tsx) under
 * plain node: tsx's loader holds about 40 MB that are no part of what a
 * bench measures. The bundle lands two directories below the package root
 * (node_modules/.cache), like the sources, so their
 * `new URL('../../firmware-protocol/...', import.meta.url)` resolve the same.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Bundles `entry` (a path from the package root) to node_modules/.cache/<name>.mjs; null, with a note on stderr, when
 * esbuild cannot be loaded.
 */
export async function bundleChild(entry: string, name: string): Promise<string | null> {
  const outfile = join(root, 'node_modules', '.cache', `${name}.mjs`);
  try {
    const esbuild = await import('esbuild');
    mkdirSync(dirname(outfile), { recursive: true });
    await esbuild.build({
      entryPoints: [join(root, entry)],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      logLevel: 'warning',
    });
    return outfile;
  } catch (e) {
    console.error(`${name}: no esbuild bundle (${(e as Error).message}); measuring under tsx only`);
    return null;
  }
}
