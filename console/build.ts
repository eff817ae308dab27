/**
 * Bundles the console (console/src) into console/dist with esbuild: one minified script and
 * stylesheet, no CDN, so the page works offline. `npm start` calls `ensureConsoleBuilt()`, which
 * rebuilds only when a source changed (a hash of the sources is stored beside the bundle), so a
 * start with nothing changed costs a few file reads. `npm run build:console` forces a build.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

export const CONSOLE_DIR = dirname(fileURLToPath(import.meta.url));
export const CONSOLE_DIST = join(CONSOLE_DIR, 'dist');
const SOURCES = join(CONSOLE_DIR, 'src');
const HASH_FILE = join(CONSOLE_DIST, '.source-hash');

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)])));
  return nested.flat().sort();
}

/** Every input of the bundle: the sources, this script and the locked dependency versions. */
async function sourceHash(): Promise<string> {
  const hash = createHash('sha256');
  const root = join(CONSOLE_DIR, '..');
  for (const file of [...(await listFiles(SOURCES)), fileURLToPath(import.meta.url), join(root, 'package-lock.json')]) {
    hash.update(relative(root, file)).update('\0').update(await readFile(file)).update('\0');
  }
  return hash.digest('hex');
}

export async function buildConsole(hash?: string): Promise<void> {
  await rm(CONSOLE_DIST, { recursive: true, force: true });
  await mkdir(CONSOLE_DIST, { recursive: true });
  await build({
    entryPoints: [join(SOURCES, 'main.tsx')],
    outfile: join(CONSOLE_DIST, 'app.js'),
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning',
    legalComments: 'none',
  });
  await copyFile(join(SOURCES, 'index.html'), join(CONSOLE_DIST, 'index.html'));
  await writeFile(HASH_FILE, hash ?? (await sourceHash()));
}

/** Builds the bundle when its sources changed since the last build; true when it built. */
export async function ensureConsoleBuilt(): Promise<boolean> {
  const [current, built] = await Promise.all([sourceHash(), readFile(HASH_FILE, 'utf8').catch(() => null)]);
  if (current === built) return false;
  await buildConsole(current);
  return true;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await buildConsole();
  console.log(`console built into ${relative(process.cwd(), CONSOLE_DIST)}`);
}
