/** Starts real services on ephemeral loopback ports for end-to-end tests. */
import { loadAuthConfig, mintToken } from '../../lib/auth.js';
import type { Role } from '../../lib/auth.js';
import { startPlatform } from '../../platform/platform.js';
import type { Platform, PlatformOptions } from '../../platform/platform.js';
import { loadProfileConfig } from '../../subgraphs/profile/src/config.js';
import type { ProfileConfig } from '../../subgraphs/profile/src/config.js';

export interface GraphQLResponse<T = any> {
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string } & Record<string, unknown>; path?: unknown[] }>;
}

export async function graphql<T = any>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GraphQLResponse<T>;
}

/**
 * Most tests exercise other things than authentication and run with AUTH_DISABLED=1 (every call
 * acts as a service); test/e2e/auth.test.ts turns it back on and checks every rule.
 */
export const TEST_ENV = { HOST: '127.0.0.1', GATEWAY_PORT: '0', LOG_LEVEL: 'silent', AUTH_DISABLED: '1' };

/** The development secrets the services use when none are configured. */
export const DEV_AUTH = loadAuthConfig({});

/** A caller token signed with the development JWT secret. */
export function tokenFor(sub: string, role: Role | Role[], expiresIn = '1h'): Promise<string> {
  return mintToken(DEV_AUTH, { sub, role }, expiresIn);
}

export function testProfileConfig(overrides: Partial<ProfileConfig> = {}): ProfileConfig {
  return { ...loadProfileConfig({ ...TEST_ENV, PROFILE_PORT: '0' }), ...overrides };
}

export interface TestPlatform extends Platform {
  query<T = any>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GraphQLResponse<T>>;
}

/** The platform on ephemeral loopback ports, with fresh in-memory stores unless `backends` is given. */
export async function startTestPlatform(options: Omit<PlatformOptions, 'env'> & { env?: Record<string, string> } = {}): Promise<TestPlatform> {
  const { env, ...rest } = options;
  const platform = await startPlatform({
    ...rest,
    env: { ...TEST_ENV, PROFILE_PORT: '0', RECOMMENDATIONS_PORT: '0', EXPERIMENTS_PORT: '0', AUDIENCES_PORT: '0', ...env },
  });
  return { ...platform, query: (q, v, h) => graphql(platform.gatewayUrl, q, v, h) };
}
