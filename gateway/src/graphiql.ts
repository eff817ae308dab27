/**
 * GraphiQL at /graphiql: an explorer that needs no internet (Apollo Sandbox, the landing page on
 * /graphql, loads from Apollo's CDN). GraphiQL, React and Monaco come from node_modules and are
 * bundled with esbuild (JavaScript, CSS, fonts and Monaco's three web workers) into files this
 * gateway serves itself; the page is gateway/graphiql/main.ts.
 *
 * The bundle takes about 1.5–3 s of CPU to build, too long to add to every gateway start (and to
 * every test that starts one), so it is built on the first request of /graphiql, which waits for
 * it, and kept in memory; the files are also written to node_modules/.cache/graphiql/<key>/, the
 * key a hash of everything the bundle is made of (the page's sources, the build options, esbuild's
 * version and the installed packages' lockfile), so after a restart the first request is served
 * from disk at once. A failed build is answered with a 500 page that says why (development only:
 * like Sandbox and introspection, /graphiql is not served in production) and retried next time.
 *
 * The page runs under a Content-Security-Policy that allows nothing but this origin: scripts and
 * workers are files (no inline script, no eval), requests go to this gateway only.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from '../../lib/http/server.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const PAGE_DIR = join(ROOT, 'gateway/graphiql');
const DEFAULT_CACHE_DIR = join(ROOT, 'node_modules/.cache/graphiql');

export const GRAPHIQL_PATH = '/graphiql';
const ASSETS = `${GRAPHIQL_PATH}/assets`;

/** esbuild entry points: the output file's name (without extension) → its source. */
const ENTRY_POINTS: Record<string, string> = {
  graphiql: 'gateway/graphiql/main.ts',
  page: 'gateway/graphiql/page.css',
  // Monaco's language services run in workers; main.ts points Monaco at these files.
  'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
  'json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
  'graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
};

/** Every option of the build but the paths: part of the cache key. */
const BUILD_OPTIONS = {
  bundle: true,
  // Classic scripts, workers included (`new Worker(url)`), no code splitting: one file each.
  format: 'iife',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  define: { 'process.env.NODE_ENV': '"production"' },
  loader: { '.ttf': 'file', '.woff': 'file', '.woff2': 'file', '.svg': 'file', '.png': 'file' },
  assetNames: '[name]-[hash]',
} as const;

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.ttf': 'font/ttf',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

export interface GraphiqlBundle {
  /** File name (under /graphiql/assets/) → contents. */
  files: Map<string, Buffer>;
  /** The cache key: also each file's ETag. */
  key: string;
  /** Built now, or read from the cache folder. */
  source: 'build' | 'cache';
  /** Milliseconds it took (build, or reading the cache). */
  ms: number;
}

export interface GraphiqlOptions {
  /** Where built bundles are kept across restarts; `null` keeps them in memory only. */
  cacheDir?: string | null;
}

/** The cache key: a hash of every input of the bundle. */
async function cacheKey(esbuildVersion: string): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ esbuildVersion, ENTRY_POINTS, BUILD_OPTIONS }));
  for (const name of (await readdir(PAGE_DIR)).sort()) hash.update(name).update(await readFile(join(PAGE_DIR, name)));
  // The packages as installed (npm's hidden lockfile), else as locked.
  const lockfile = await readFile(join(ROOT, 'node_modules/.package-lock.json')).catch(() => readFile(join(ROOT, 'package-lock.json')));
  hash.update(lockfile);
  return hash.digest('hex').slice(0, 16);
}

async function build(esbuild: typeof import('esbuild')): Promise<Map<string, Buffer>> {
  const outdir = join(ROOT, '.graphiql-out');
  const result = await esbuild.build({
    ...BUILD_OPTIONS,
    loader: { ...BUILD_OPTIONS.loader },
    define: { ...BUILD_OPTIONS.define },
    absWorkingDir: ROOT,
    entryPoints: ENTRY_POINTS,
    outdir,
    write: false,
    logLevel: 'silent',
  });
  return new Map(result.outputFiles.map((f) => [f.path.slice(outdir.length + 1), Buffer.from(f.contents)]));
}

async function readCached(dir: string): Promise<Map<string, Buffer>> {
  const names = JSON.parse(await readFile(join(dir, 'files.json'), 'utf8')) as string[];
  return new Map(await Promise.all(names.map(async (name) => [name, await readFile(join(dir, basename(name)))] as const)));
}

/** Writes the bundle to `<cacheDir>/<key>/` (whole or not at all) and removes older bundles. */
async function writeCached(cacheDir: string, key: string, files: Map<string, Buffer>): Promise<void> {
  await mkdir(cacheDir, { recursive: true });
  const partial = join(cacheDir, `.${key}-${process.pid}-${Date.now()}`);
  await mkdir(partial);
  await Promise.all([...files].map(([name, body]) => writeFile(join(partial, name), body)));
  await writeFile(join(partial, 'files.json'), JSON.stringify([...files.keys()]));
  // Another gateway may have written the same key meanwhile: its copy is as good as this one.
  await rename(partial, join(cacheDir, key)).catch(() => rm(partial, { recursive: true, force: true }));
  for (const entry of await readdir(cacheDir)) {
    if (entry !== key && !entry.startsWith('.')) await rm(join(cacheDir, entry), { recursive: true, force: true });
  }
}

/** The bundle: from the cache folder when it holds this key, else built (and cached). */
export async function graphiqlBundle(options: GraphiqlOptions = {}): Promise<GraphiqlBundle> {
  const started = performance.now();
  const cacheDir = options.cacheDir === undefined ? DEFAULT_CACHE_DIR : options.cacheDir;
  // Loaded here, not at start-up: a gateway nobody opens GraphiQL on never loads esbuild.
  const esbuild = await import('esbuild');
  const key = await cacheKey(esbuild.version);
  if (cacheDir) {
    const cached = await readCached(join(cacheDir, key)).catch(() => undefined);
    if (cached) return { files: cached, key, source: 'cache', ms: performance.now() - started };
  }
  const files = await build(esbuild);
  const ms = performance.now() - started;
  // A read-only or full disk only costs the next start a build.
  if (cacheDir) await writeCached(cacheDir, key, files).catch(() => undefined);
  return { files, key, source: 'build', ms };
}

/**
 * Everything the page may load comes from this origin: scripts and workers only as files, styles
 * inline too (Monaco and GraphiQL insert <style> elements), fonts and icons also as data: URLs
 * (GraphiQL's CSS inlines them). `connect-src 'self'` covers ws:// on the same host and port.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "worker-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self' data:",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function secured(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin');
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL · gateway</title>
<link rel="stylesheet" href="${ASSETS}/page.css">
<link rel="stylesheet" href="${ASSETS}/graphiql.css">
<script src="${ASSETS}/graphiql.js" defer></script>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
</body>
</html>
`;

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Serves GraphiQL at /graphiql and its files at /graphiql/assets/. Register it in development only. */
export function serveGraphiql(app: FastifyInstance, options: GraphiqlOptions = {}): void {
  let bundle: Promise<GraphiqlBundle> | undefined;
  const ready = () => {
    bundle ??= graphiqlBundle(options).then(
      (b) => {
        app.log.info({ source: b.source, ms: Math.round(b.ms) }, 'GraphiQL bundle ready');
        return b;
      },
      (err: unknown) => {
        bundle = undefined; // the next request tries again
        throw err;
      },
    );
    return bundle;
  };

  const page = async (_req: FastifyRequest, reply: FastifyReply) => {
    secured(reply).header('cache-control', 'no-cache');
    try {
      await ready();
    } catch (err) {
      app.log.error(err, 'GraphiQL could not be built');
      const reason = (err as { errors?: { text: string }[] }).errors?.[0]?.text ?? (err as Error).message;
      return reply
        .code(500)
        .type('text/html; charset=utf-8')
        .send(`<!doctype html><title>GraphiQL unavailable</title><p>GraphiQL could not be built (esbuild): ${escapeHtml(reason)}. The gateway's log has the details; reload to try again.</p>`);
    }
    return reply.type('text/html; charset=utf-8').send(PAGE);
  };
  app.get(GRAPHIQL_PATH, page);
  app.get(`${GRAPHIQL_PATH}/`, page);

  app.get<{ Params: { file: string } }>(`${ASSETS}/:file`, async (req, reply) => {
    const b = await ready().catch(() => undefined);
    const body = b?.files.get(req.params.file);
    if (!b || !body) return reply.code(404).send(errorBody('NOT_FOUND', `no GraphiQL file ${req.params.file}`));
    // Names are fixed, contents change with the bundle: revalidated each time, 304 when unchanged.
    const etag = `"${b.key}"`;
    secured(reply).header('cache-control', 'no-cache').header('etag', etag);
    if (req.headers['if-none-match'] === etag) return reply.code(304).send();
    return reply.type(CONTENT_TYPES[extname(req.params.file)] ?? 'application/octet-stream').send(body);
  });
}
