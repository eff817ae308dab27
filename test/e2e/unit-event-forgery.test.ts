/**
 * Issue 14, "unit events can be forged by replay", through the real gateway with authentication
 * on: a user token replaying its own impression id cannot move the results. Impression ids
 * expire, occurredAt must fall between the row's serving time and now, each served position
 * counts once per type (one exposure per row), values are bounded (user purchases more tightly),
 * and trackUnitEvents has a per-token rate limit. Every rejected event gets its own code while
 * the valid ones in the batch are kept.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_IMPRESSION_SECRET, issueImpression, verifyImpression } from '../../lib/contracts/impression.js';
import { startTestPlatform, tokenFor } from '../helpers/platform.js';
import type { TestPlatform } from '../helpers/platform.js';

// One unit event per second per token, bursts of 1,000: each test uses its own user.
const AUTH_ON = { AUTH_DISABLED: '0', UNIT_EVENT_RATE_LIMIT: '1', UNIT_EVENT_BURST: '1000' };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const ROW = `query ($id: ID!, $unit: String!) { user(id: $id) { recommendedFor(unitId: $unit, limit: 3) { impressionId experimentKey variant items { position item { id } } } } }`;
const TRACK = `mutation ($events: [UnitEventInput!]!) { trackUnitEvents(events: $events) { accepted duplicates rejected { index eventId code message } } }`;
const RESULTS = `query ($unit: String) { experiment(key: "realtime-ranking") { results(unitId: $unit) { variants { variant exposedUsers impressions clicks consumptionPerExposedUser revenuePerExposedUser } } } }`;

interface Row {
  impressionId: string;
  experimentKey: string | null;
  variant: string | null;
  items: Array<{ position: number; item: { id: string } }>;
}
interface Tracked {
  accepted: number;
  duplicates: number;
  rejected: Array<{ index: number; eventId: string | null; code: string; message: string }>;
}

describe('unit events cannot be forged by replay (issue 14), through the gateway', () => {
  let p: TestPlatform;
  let service: string;

  beforeAll(async () => {
    p = await startTestPlatform({ env: AUTH_ON });
    service = await tokenFor('backend', 'service');
  });
  afterAll(async () => {
    await p?.close();
  });

  /** A row served to `user` (with the user's own token) in unit `unit`. */
  async function rowFor(user: string, token: string, unit: string): Promise<Row> {
    const res = await p.query(ROW, { id: user, unit }, bearer(token));
    expect(res.errors).toBeUndefined();
    const row = res.data.user.recommendedFor as Row;
    expect(row.experimentKey).toBe('realtime-ranking');
    expect(row.items.length).toBeGreaterThan(0);
    return row;
  }
  async function track(events: Record<string, unknown>[], token: string) {
    return p.query<{ trackUnitEvents: Tracked }>(TRACK, { events }, bearer(token));
  }
  /** The results of one unit, per variant. */
  async function results(unit: string): Promise<Record<string, { exposedUsers: number; clicks: number; revenuePerExposedUser: number | null; consumptionPerExposedUser: number | null }>> {
    const res = await p.query(RESULTS, { unit }, bearer(service));
    expect(res.errors).toBeUndefined();
    return Object.fromEntries(res.data.experiment.results.variants.map((v: { variant: string }) => [v.variant, v]));
  }
  const codeSet = (t: Tracked) => new Set(t.rejected.map((r) => r.code));

  it('the finding: 1,000 replays of PURCHASE with value 1e9 dated 2001 are rejected one by one and revenue stays put', async () => {
    const mallory = await tokenFor('mallory', 'user');
    const row = await rowFor('mallory', mallory, 'forgery-replay');
    const first = row.items[0]!;
    const events = Array.from({ length: 1000 }, (_, i) => ({
      eventId: `replay-${i}`,
      impressionId: row.impressionId,
      type: 'PURCHASE',
      position: first.position,
      itemId: first.item.id,
      value: 1e9,
      occurredAt: '2001-01-01T00:00:00Z',
    }));
    const res = await track(events, mallory);
    expect(res.errors).toBeUndefined();
    const t = res.data!.trackUnitEvents;
    expect(t.accepted).toBe(0);
    expect(t.rejected).toHaveLength(1000);
    expect(t.rejected.map((r) => r.index)).toEqual(events.map((_, i) => i));
    expect(t.rejected.map((r) => r.eventId)).toEqual(events.map((e) => e.eventId));
    expect(codeSet(t)).toEqual(new Set(['VALUE_OUT_OF_RANGE']));

    const variant = row.variant!;
    const after = await results('forgery-replay');
    expect(after[variant]!.revenuePerExposedUser ?? 0).toBe(0);
    expect(after[variant]!.exposedUsers).toBe(0);
  });

  it('a well-formed replay counts once: one exposure, each type once per served position; valid events of the batch are kept', async () => {
    const eve = await tokenFor('eve', 'user');
    const row = await rowFor('eve', eve, 'forgery-caps');
    expect(row.items).toHaveLength(3);
    const first = row.items[0]!;
    const at = (type: string, value = 0) => ({ impressionId: row.impressionId, type, position: first.position, itemId: first.item.id, value });
    const events = [
      ...Array.from({ length: 5 }, (_, i) => ({ eventId: `imp-${i}`, impressionId: row.impressionId, type: 'IMPRESSION' })),
      ...Array.from({ length: 5 }, (_, i) => ({ eventId: `click-${i}`, ...at('CLICK') })),
      ...Array.from({ length: 5 }, (_, i) => ({ eventId: `watch-${i}`, ...at('CONSUME', 1200) })),
      ...Array.from({ length: 5 }, (_, i) => ({ eventId: `buy-${i}`, ...at('PURCHASE', 9.99) })),
      { eventId: 'dated-2001', ...at('CLICK'), position: row.items.at(-1)!.position, itemId: row.items.at(-1)!.item.id, occurredAt: '2001-01-01T00:00:00Z' },
      { eventId: 'watched-two-days', ...at('CONSUME', 2 * 86_400), position: row.items.at(-1)!.position, itemId: row.items.at(-1)!.item.id },
      { eventId: 'imp-0', impressionId: row.impressionId, type: 'IMPRESSION' }, // a retry: a duplicate, not an error
    ];
    const res = await track(events, eve);
    expect(res.errors).toBeUndefined();
    const t = res.data!.trackUnitEvents;
    expect(t.accepted).toBe(4);
    expect(t.duplicates).toBe(1);
    const byCode = (code: string) => t.rejected.filter((r) => r.code === code).map((r) => r.eventId);
    expect(byCode('ALREADY_COUNTED').sort()).toEqual(['buy', 'click', 'imp', 'watch'].flatMap((k) => [1, 2, 3, 4].map((i) => `${k}-${i}`)).sort());
    expect(byCode('OCCURRED_AT_OUT_OF_RANGE')).toEqual(['dated-2001']);
    expect(byCode('VALUE_OUT_OF_RANGE')).toEqual(['watched-two-days']);
    expect(t.rejected).toHaveLength(18);
    for (const r of t.rejected) expect(r.message.length).toBeGreaterThan(0);

    const v = (await results('forgery-caps'))[row.variant!]!;
    expect(v).toMatchObject({ exposedUsers: 1, impressions: 1, clicks: 1, consumptionPerExposedUser: 1200, revenuePerExposedUser: 9.99 });
  });

  it('impression ids expire: a genuinely signed row served 25 hours ago is IMPRESSION_EXPIRED', async () => {
    const trent = await tokenFor('trent', 'user');
    const row = await rowFor('trent', trent, 'forgery-expired');
    const claims = verifyImpression(row.impressionId, DEV_IMPRESSION_SECRET)!;
    expect(claims.userId).toBe('trent');
    const { nonce: _nonce, ...rest } = claims;
    const old = issueImpression({ ...rest, issuedAt: Date.now() - 25 * 3_600_000 }, DEV_IMPRESSION_SECRET);
    const res = await track(
      [
        { eventId: 'old-imp', impressionId: old, type: 'IMPRESSION' },
        { eventId: 'fresh-imp', impressionId: row.impressionId, type: 'IMPRESSION' },
      ],
      trent,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data!.trackUnitEvents).toMatchObject({ accepted: 1, rejected: [{ index: 0, eventId: 'old-imp', code: 'IMPRESSION_EXPIRED' }] });
  });

  it('limits trackUnitEvents per token: RATE_LIMITED with retryAfterMs, other tokens unaffected', async () => {
    const [flood, other] = await Promise.all([tokenFor('flood', 'user'), tokenFor('calm', 'user')]);
    const row = await rowFor('flood', flood, 'forgery-rate');
    const burst = Array.from({ length: 1000 }, (_, i) => ({ eventId: `f-${i}`, impressionId: row.impressionId, type: 'IMPRESSION' }));
    const first = await track(burst, flood);
    expect(first.errors).toBeUndefined();

    const refused = await track(burst.slice(0, 10), flood);
    expect(refused.data ?? null).toBeNull();
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: expect.any(Number) });
    expect(refused.errors![0]!.extensions!['retryAfterMs'] as number).toBeGreaterThan(0);
    expect(refused.errors![0]!.message).toMatch(/unit events/);

    const calmRow = await rowFor('calm', other, 'forgery-rate');
    const fine = await track([{ eventId: 'c-1', impressionId: calmRow.impressionId, type: 'IMPRESSION' }], other);
    expect(fine.data!.trackUnitEvents.accepted).toBe(1);
  });
});
