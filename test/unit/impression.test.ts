import { describe, expect, it } from 'vitest';
import { MAX_TOKEN_LENGTH, impressionKey, issueImpression, verifyImpression } from '../../lib/contracts/impression.js';
import type { ImpressionClaims } from '../../lib/contracts/impression.js';
import { T0 } from './fixtures.js';

const SECRET = 'unit-test-impression-secret';

const claims: Omit<ImpressionClaims, 'nonce'> = {
  userId: 'user-1',
  unitId: 'home:hero',
  model: 'REALTIME',
  experimentKey: 'rec-model',
  variant: 'treatment',
  itemIds: ['ml-1', 'ml-2', 'série-3'],
  issuedAt: T0,
};

/** Splits a token into its three dot-separated parts. */
function parts(token: string): [string, string, string] {
  const [version, payload, mac, ...rest] = token.split('.');
  expect(rest).toEqual([]);
  return [version!, payload!, mac!];
}

/** Flips one base64url character of `s` at `i` into another valid base64url character. */
function flipChar(s: string, i: number): string {
  const c = s[i]!;
  return s.slice(0, i) + (c === 'A' ? 'B' : 'A') + s.slice(i + 1);
}

describe('impression tokens', () => {
  it('round-trips the claims with a nonce', () => {
    const token = issueImpression(claims, SECRET);
    expect(token.startsWith('v1.')).toBe(true);
    const verified = verifyImpression(token, SECRET);
    expect(verified).not.toBeNull();
    const { nonce, ...rest } = verified!;
    expect(rest).toEqual(claims);
    expect(typeof nonce).toBe('string');
    expect(nonce.length).toBeGreaterThan(0);
  });

  it('round-trips null experiment and variant and an empty row', () => {
    const plain = { ...claims, experimentKey: null, variant: null, itemIds: [] };
    const verified = verifyImpression(issueImpression(plain, SECRET), SECRET);
    expect(verified).toMatchObject(plain);
  });

  it('gives two rows with identical claims different tokens (and nonces)', () => {
    const a = issueImpression(claims, SECRET);
    const b = issueImpression(claims, SECRET);
    expect(a).not.toBe(b);
    expect(verifyImpression(a, SECRET)!.nonce).not.toBe(verifyImpression(b, SECRET)!.nonce);
  });

  it('rejects an altered payload', () => {
    const [version, payload, mac] = parts(issueImpression(claims, SECRET));
    // Re-encode a payload with a different user but keep the original signature.
    const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown[];
    decoded[0] = 'user-2';
    const forged = Buffer.from(JSON.stringify(decoded)).toString('base64url');
    expect(verifyImpression(`${version}.${forged}.${mac}`, SECRET)).toBeNull();
    // A single flipped character anywhere in the payload.
    for (const i of [0, Math.floor(payload.length / 2), payload.length - 1]) {
      expect(verifyImpression(`${version}.${flipChar(payload, i)}.${mac}`, SECRET)).toBeNull();
    }
  });

  it('rejects an altered signature', () => {
    const [version, payload, mac] = parts(issueImpression(claims, SECRET));
    for (const i of [0, Math.floor(mac.length / 2), mac.length - 1]) {
      expect(verifyImpression(`${version}.${payload}.${flipChar(mac, i)}`, SECRET)).toBeNull();
    }
    expect(verifyImpression(`${version}.${payload}.${mac}A`, SECRET)).toBeNull();
    expect(verifyImpression(`${version}.${payload}.`, SECRET)).toBeNull();
  });

  it('rejects a token signed with another secret, and a changed version', () => {
    const token = issueImpression(claims, SECRET);
    expect(verifyImpression(token, 'another-secret')).toBeNull();
    expect(verifyImpression(token, '')).toBeNull();
    const [, payload, mac] = parts(token);
    expect(verifyImpression(`v2.${payload}.${mac}`, SECRET)).toBeNull();
  });

  it('rejects truncated tokens', () => {
    const token = issueImpression(claims, SECRET);
    const [version, payload] = parts(token);
    for (const cut of [1, 2, 10, token.length - 20, token.length - 1]) {
      expect(verifyImpression(token.slice(0, cut), SECRET)).toBeNull();
    }
    expect(verifyImpression(`${version}.${payload}`, SECRET)).toBeNull();
  });

  it('rejects garbage strings', () => {
    for (const garbage of ['', '.', '..', 'v1..', 'v1.x.y', 'not a token', 'v1.%%%.###', '\u0000', 'v1.e30.e30']) {
      expect(verifyImpression(garbage, SECRET)).toBeNull();
    }
    expect(verifyImpression(undefined as unknown as string, SECRET)).toBeNull();
    expect(verifyImpression(42 as unknown as string, SECRET)).toBeNull();
  });

  it('rejects an over-long token without verifying it', () => {
    expect(verifyImpression(`v1.${'A'.repeat(10_000)}.${'B'.repeat(43)}`, SECRET)).toBeNull();
    // Even a genuinely signed token is refused above the size cap.
    const huge = issueImpression({ ...claims, itemIds: Array.from({ length: 600 }, (_, i) => `item-${i}-${'x'.repeat(80)}`) }, SECRET);
    expect(huge.length).toBeGreaterThan(MAX_TOKEN_LENGTH);
    expect(verifyImpression(huge, SECRET)).toBeNull();
  });

  it('rejects a genuine token with extra dot-separated parts appended', () => {
    const token = issueImpression(claims, SECRET);
    expect(verifyImpression(`${token}.extra`, SECRET)).toBeNull();
  });

  it('verifies a genuine token for a full row of long (but valid) item ids', () => {
    const itemIds = Array.from({ length: 100 }, (_, i) => `${String(i).padStart(3, '0')}-${'x'.repeat(60)}`);
    const token = issueImpression({ ...claims, itemIds }, SECRET);
    expect(verifyImpression(token, SECRET)?.itemIds).toEqual(itemIds);
  });

  it('names each served row with a short stable key (what unit-event dedupe and caps are kept under)', () => {
    const a = issueImpression(claims, SECRET);
    const b = issueImpression(claims, SECRET);
    expect(impressionKey(a)).toBe(impressionKey(a));
    expect(impressionKey(a)).not.toBe(impressionKey(b));
    expect(impressionKey(a)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Short whatever the row's size.
    const long = issueImpression({ ...claims, itemIds: Array.from({ length: 100 }, (_, i) => `item-${i}-${'x'.repeat(60)}`) }, SECRET);
    expect(impressionKey(long)).toHaveLength(43);
  });
});
