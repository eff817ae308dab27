/**
 * The console's own server: static files and the page's configuration, nothing else. Every piece
 * of data the page shows comes from the gateway's GraphQL API, called by the browser with a token.
 * In development it also hands the page the demo tokens `npm start` mints (so a newcomer signs in
 * with one click) and a read-only pass-through of the services' Prometheus /metrics for the Health
 * view (the graph has no operator fields; in production operators scrape /metrics themselves).
 */
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import Fastify from 'fastify';
import { listen } from '../lib/http/server.js';
import { CONSOLE_DIST } from './build.js';
import type { ConsoleConfig, DemoToken } from './src/config-types.js';

export type { DemoToken };

export interface ConsoleServerOptions {
  host: string;
  port: number;
  /** The gateway's base URL as the browser reaches it (http://host:port, no path). */
  gatewayUrl: string;
  production: boolean;
  /** Offered at sign-in; ignored in production, where the page asks for a token. */
  demoTokens?: DemoToken[];
  /** Service name → its /metrics URL, for the Health view; ignored in production. */
  metricsUrls?: Record<string, string>;
}

export interface ConsoleServer {
  url: string;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

async function loadBundle(): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of ['index.html', 'app.js', 'app.css']) {
    files.set(`/${name}`, await readFile(join(CONSOLE_DIST, name)));
  }
  return files;
}

export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const files = await loadBundle();
  const gatewayHttpUrl = `${options.gatewayUrl}/graphql`;
  const gatewayWsUrl = gatewayHttpUrl.replace(/^http/, 'ws');
  const metricsUrls = options.production ? {} : (options.metricsUrls ?? {});
  const config: ConsoleConfig = {
    gatewayHttpUrl,
    gatewayWsUrl,
    production: options.production,
    // A token served to any browser that asks is a credential for anyone who can reach the port.
    demoTokens: options.production ? [] : (options.demoTokens ?? []),
    metricsServices: Object.keys(metricsUrls),
  };
  const gatewayOrigin = new URL(gatewayHttpUrl).origin;
  const csp = [
    "default-src 'self'",
    `connect-src 'self' ${gatewayOrigin} ${gatewayOrigin.replace(/^http/, 'ws')}`,
    // Observable Plot writes style attributes on the SVG it renders.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
  ].join('; ');

  const app = Fastify({ logger: false });
  app.addHook('onSend', async (_req, reply) => {
    reply.header('content-security-policy', csp).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
  });
  app.get('/config.json', async (_req, reply) => reply.header('cache-control', 'no-store').send(config));
  app.get<{ Params: { service: string } }>('/metrics/:service', async (req, reply) => {
    const url = metricsUrls[req.params.service];
    if (!url) return reply.code(404).send({ error: 'no such service' });
    const upstream = await fetch(url).catch(() => null);
    if (!upstream?.ok) return reply.code(502).send({ error: `${req.params.service} did not answer` });
    return reply.header('content-type', 'text/plain; charset=utf-8').header('cache-control', 'no-store').send(await upstream.text());
  });
  app.get('/*', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    // Views are client-side: any other path is the page itself.
    const name = files.has(path) ? path : '/index.html';
    return reply.header('content-type', CONTENT_TYPES[extname(name)] ?? 'application/octet-stream').send(files.get(name));
  });
  const url = await listen(app, options.port, options.host);
  return { url, close: () => app.close() };
}
