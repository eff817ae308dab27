/**
 * Impression ids: opaque tokens that bind a served row (user, unit, model, experiment, variant,
 * item ids) to the server that served it, signed with HMAC-SHA256. The experiments service
 * verifies them, so forged or altered impressions are rejected.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ConfigError, isProduction } from '../env.js';

export interface ImpressionClaims {
  userId: string;
  unitId: string;
  model: string;
  experimentKey: string | null;
  variant: string | null;
  itemIds: string[];
  /** Epoch ms when the row was served. */
  issuedAt: number;
  /** Random per row, so two identical rows get distinct ids. */
  nonce: string;
}

const VERSION = 'v1';
/** Room for a 100-item row of 128-character ids, base64url-encoded, with margin. */
export const MAX_TOKEN_LENGTH = 65_536;

function sign(payload: string, secret: string): string {
  return createHmac('sha256', secret).update(`${VERSION}.${payload}`).digest('base64url');
}

export function issueImpression(claims: Omit<ImpressionClaims, 'nonce'>, secret: string): string {
  const full: ImpressionClaims = { ...claims, nonce: randomBytes(6).toString('base64url') };
  const payload = Buffer.from(
    JSON.stringify([full.userId, full.unitId, full.model, full.experimentKey, full.variant, full.itemIds, full.issuedAt, full.nonce]),
  ).toString('base64url');
  return `${VERSION}.${payload}.${sign(payload, secret)}`;
}

/** The claims of a genuine token, or null when it is malformed, forged or altered. */
export function verifyImpression(token: string, secret: string): ImpressionClaims | null {
  if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const [version, payload, mac] = parts;
  if (version !== VERSION || !payload || !mac) return null;
  const expected = Buffer.from(sign(payload, secret));
  const given = Buffer.from(mac);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
  try {
    const [userId, unitId, model, experimentKey, variant, itemIds, issuedAt, nonce] = JSON.parse(
      Buffer.from(payload, 'base64url').toString('utf8'),
    ) as [string, string, string, string | null, string | null, string[], number, string];
    // Only this platform signs, but a claim the consumers rely on (the serving time above all:
    // impressions expire from it) must have its type.
    if (!Number.isFinite(issuedAt) || !Array.isArray(itemIds)) return null;
    return { userId, unitId, model, experimentKey, variant, itemIds, issuedAt, nonce };
  } catch {
    return null;
  }
}

/**
 * A short name for a served row: its signature (43 base64url characters, unique per row since every
 * row has its own nonce). Unit-event dedupe ids and per-row caps are kept under it. Call it on a
 * token that verifyImpression accepted.
 */
export function impressionKey(token: string): string {
  return token.slice(token.lastIndexOf('.') + 1);
}

export const DEV_IMPRESSION_SECRET = 'dev-only-impression-secret-change-me';

/** The HMAC secret from IMPRESSION_SECRET (required in production; a development constant otherwise). */
export function impressionSecret(env: NodeJS.ProcessEnv): string {
  const secret = env['IMPRESSION_SECRET'];
  if (secret) {
    if (secret.length < 16) throw new ConfigError('IMPRESSION_SECRET must be at least 16 characters');
    return secret;
  }
  if (isProduction(env)) throw new ConfigError('IMPRESSION_SECRET is required when NODE_ENV=production');
  return DEV_IMPRESSION_SECRET;
}

/** What a recommendation unit id (a row or slot) may look like. */
export const UNIT_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
