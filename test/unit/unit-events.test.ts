/** checkUnitEvent: the pure rules a unit event must pass against its impression's claims (issue 14). */
import { describe, expect, it } from 'vitest';
import { DEFAULT_UNIT_EVENT_LIMITS, checkUnitEvent } from '../../subgraphs/experiments/src/domain/unit-events.js';
import type { CallerRole } from '../../subgraphs/experiments/src/domain/unit-events.js';
import { T0 } from './fixtures.js';

const claims = { itemIds: ['a', 'b', 'c'], issuedAt: T0 };
const limits = DEFAULT_UNIT_EVENT_LIMITS;
const HOUR = 3_600_000;
const check = (raw: Record<string, unknown>, now = T0 + HOUR, role: CallerRole = 'user') => checkUnitEvent(raw, claims, { now, role, limits });
const code = (r: ReturnType<typeof check>) => (r.ok ? 'OK' : r.code);

describe('checkUnitEvent', () => {
  it('passes a valid event with what the store needs: slot fields, the time, and when the impression expires', () => {
    expect(check({ type: 'CONSUME', position: 2, itemId: 'b', value: 90, completed: true, occurredAt: T0 + 60_000 })).toEqual({
      ok: true,
      type: 'CONSUME',
      position: 2,
      value: 90,
      completed: true,
      occurredAt: T0 + 60_000,
      expiresAt: T0 + 24 * HOUR,
    });
    // Without occurredAt the event happened now; an IMPRESSION needs no position.
    expect(check({ type: 'IMPRESSION' })).toMatchObject({ ok: true, position: null, value: 0, occurredAt: T0 + HOUR });
  });

  it('expiry comes first: nothing about an expired impression is looked at', () => {
    expect(code(check({ type: 'VIEW' }, T0 + 24 * HOUR))).toBe('IMPRESSION_EXPIRED');
    expect(code(check({ type: 'IMPRESSION' }, T0 + 24 * HOUR - 1))).toBe('OK');
  });

  it('the occurredAt window is [served − skew, now + skew]', () => {
    const skew = limits.maxSkewMs;
    const now = T0 + HOUR;
    expect(code(check({ type: 'IMPRESSION', occurredAt: T0 - skew - 1 }))).toBe('OCCURRED_AT_OUT_OF_RANGE');
    expect(code(check({ type: 'IMPRESSION', occurredAt: T0 - skew }))).toBe('OK');
    expect(code(check({ type: 'IMPRESSION', occurredAt: now + skew }))).toBe('OK');
    expect(code(check({ type: 'IMPRESSION', occurredAt: now + skew + 1 }))).toBe('OCCURRED_AT_OUT_OF_RANGE');
    expect(code(check({ type: 'IMPRESSION', occurredAt: '2001-01-01T00:00:00Z' }))).toBe('OCCURRED_AT_OUT_OF_RANGE');
    expect(code(check({ type: 'IMPRESSION', occurredAt: 'yesterday' }))).toBe('OCCURRED_AT_INVALID');
  });

  it('bounds values by type and by role', () => {
    const buy = (value: number, role: CallerRole) => code(check({ type: 'PURCHASE', position: 1, itemId: 'a', value }, T0 + HOUR, role));
    expect(buy(limits.maxUserPurchase, 'user')).toBe('OK');
    expect(buy(limits.maxUserPurchase + 0.01, 'user')).toBe('VALUE_OUT_OF_RANGE');
    expect(buy(1e9, 'service')).toBe('OK');
    expect(buy(1e9 + 1, 'service')).toBe('VALUE_INVALID');
    const servicesOnly = checkUnitEvent({ type: 'PURCHASE', position: 1, itemId: 'a', value: 1 }, claims, { now: T0, role: 'user', limits: { ...limits, maxUserPurchase: 0 } });
    expect(code(servicesOnly)).toBe('FORBIDDEN');
    const watch = (value: number, role: CallerRole) => code(check({ type: 'CONSUME', position: 1, itemId: 'a', value }, T0 + HOUR, role));
    expect(watch(86_400, 'user')).toBe('OK');
    expect(watch(86_401, 'service')).toBe('VALUE_OUT_OF_RANGE');
    expect(watch(-1, 'service')).toBe('VALUE_INVALID');
  });
});
