/** Typed reads of environment variables, with safe defaults and clear errors. */

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

export function envString(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v === '' ? fallback : v;
}

export function envInt(env: Env, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}; got "${v}"`);
  }
  return n;
}

export function envBool(env: Env, name: string, fallback: boolean): boolean {
  const v = env[name]?.toLowerCase();
  if (v === undefined || v === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false; got "${env[name]}"`);
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses durations such as `500ms`, `30s`, `15m`, `24h`, `7d` (a bare number is milliseconds). */
export function parseDuration(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return null;
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']!);
}

export function envDuration(env: Env, name: string, fallback: string): number {
  const text = envString(env, name, fallback);
  const ms = parseDuration(text);
  if (ms === null || ms <= 0) throw new ConfigError(`${name} must be a duration such as 30s, 15m, 24h or 7d; got "${text}"`);
  return ms;
}

export function envList(env: Env, name: string, fallback: readonly string[]): string[] {
  const v = env[name];
  if (v === undefined) return [...fallback];
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

const NODE_ENVS = ['production', 'development', 'test'];

/**
 * NODE_ENV=production, in any case (`Production` too). An unknown value is refused rather than
 * read as development, which would turn production's protections off by a typo.
 */
export function isProduction(env: Env): boolean {
  const value = (env['NODE_ENV'] ?? '').trim().toLowerCase();
  if (value !== '' && !NODE_ENVS.includes(value)) throw new ConfigError(`NODE_ENV must be production, development or test; got "${env['NODE_ENV']}"`);
  return value === 'production';
}

/** CORS_ORIGINS (comma-separated, `*` for any); by default any origin in development, none in production. */
export function corsOrigins(env: Env): true | string[] {
  const list = envList(env, 'CORS_ORIGINS', []);
  if (list.length > 0) return list.includes('*') ? true : list;
  return isProduction(env) ? [] : true;
}

export interface ServiceBasics {
  port: number;
  host: string;
  production: boolean;
  logLevel: string;
  corsOrigins: true | string[];
  http: HttpLimits;
}

/** What one client may hold of a service's HTTP server (slow clients must not exhaust it). */
export interface HttpLimits {
  /** Time to send the request headers (HTTP_HEADERS_TIMEOUT). */
  headersTimeoutMs: number;
  /** Time to send the whole request, body included (HTTP_REQUEST_TIMEOUT); at least the headers timeout. */
  requestTimeoutMs: number;
  /** Open connections at once, in all (MAX_CONNECTIONS); beyond it new ones are closed at once. */
  maxConnections: number;
  /** Open connections at once from one client address (MAX_CONNECTIONS_PER_CLIENT). */
  maxConnectionsPerClient: number;
}

export function httpLimits(env: Env): HttpLimits {
  const requestTimeoutMs = envDuration(env, 'HTTP_REQUEST_TIMEOUT', '30s');
  const headersTimeoutMs = Math.min(envDuration(env, 'HTTP_HEADERS_TIMEOUT', '10s'), requestTimeoutMs);
  if (requestTimeoutMs < 100) throw new ConfigError('HTTP_REQUEST_TIMEOUT must be at least 100ms');
  return {
    headersTimeoutMs,
    requestTimeoutMs,
    maxConnections: envInt(env, 'MAX_CONNECTIONS', 10_000, 1),
    maxConnectionsPerClient: envInt(env, 'MAX_CONNECTIONS_PER_CLIENT', 1_000, 1),
  };
}

/** Settings every service reads the same way: its port variable, HOST, NODE_ENV, LOG_LEVEL, CORS_ORIGINS. */
export function serviceBasics(env: Env, portVariable: string, defaultPort: number): ServiceBasics {
  return {
    port: envInt(env, portVariable, defaultPort, 0, 65535),
    host: envString(env, 'HOST', '127.0.0.1'),
    production: isProduction(env),
    logLevel: envString(env, 'LOG_LEVEL', 'warn'),
    corsOrigins: corsOrigins(env),
    http: httpLimits(env),
  };
}
