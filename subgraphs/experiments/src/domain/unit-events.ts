/**
 * What a unit event must satisfy before it may move an experiment's metrics, as one pure function
 * of the event, the verified claims of its impression, the caller's role and the time. Replaying a
 * genuine impression is the threat: the impression id expires, the event must have happened while
 * the row could be seen (between serving and now, give or take the allowed clock skew), and values
 * are bounded (purchases from user tokens more tightly than from services). "At most once per
 * impression, type and position" needs what was recorded before, so it is the store's part
 * (UnitMetricsStore.record), decided atomically there.
 */
import type { ImpressionClaims } from '../../../../lib/contracts/impression.js';
import { parseTime, MAX_EPOCH_MS } from '../../../../lib/contracts/validate.js';
import { UNIT_EVENT_TYPES } from './metrics.js';
import type { UnitEventType } from './metrics.js';

export interface UnitEventLimits {
  /** How long after serving a row its impression id is accepted (ms); its event ids are kept as long. */
  impressionTtlMs: number;
  /** Clock skew allowed on either side of [served, now] for occurredAt (ms). */
  maxSkewMs: number;
  /** Largest CONSUME value (seconds consumed in one event). */
  maxConsumeSeconds: number;
  /** Largest PURCHASE value a user token may record; 0: purchases come from service tokens only. */
  maxUserPurchase: number;
}

export const DEFAULT_UNIT_EVENT_LIMITS: UnitEventLimits = Object.freeze({
  impressionTtlMs: 24 * 3_600_000,
  maxSkewMs: 5 * 60_000,
  maxConsumeSeconds: 24 * 3600,
  maxUserPurchase: 1000,
});

/** No value of any event, from any caller, may exceed this. */
export const MAX_UNIT_EVENT_VALUE = 1e9;

export type CallerRole = 'user' | 'service';

/** The fields of an event that passed, as they will be recorded. */
export interface CheckedUnitEvent {
  ok: true;
  type: UnitEventType;
  /** 1-based position in the row; null for an IMPRESSION that names none. */
  position: number | null;
  value: number;
  completed: boolean;
  occurredAt: number;
  /** When the impression expires (epoch ms): the store forgets its event ids and caps then. */
  expiresAt: number;
}

export interface UnitEventRefusal {
  ok: false;
  code: string;
  message: string;
}

const iso = (ms: number) => (Number.isFinite(ms) && Math.abs(ms) <= MAX_EPOCH_MS ? new Date(ms).toISOString() : String(ms));

/**
 * Checks one unit event against its (verified) impression. Codes: IMPRESSION_EXPIRED, TYPE_INVALID,
 * POSITION_INVALID, ITEM_MISMATCH, VALUE_INVALID (not a number in [0, 1e9]), VALUE_OUT_OF_RANGE
 * (above the type's maximum), FORBIDDEN (a purchase from a user token when only services may
 * record them), OCCURRED_AT_INVALID, OCCURRED_AT_OUT_OF_RANGE.
 */
export function checkUnitEvent(
  raw: Readonly<Record<string, unknown>>,
  claims: Pick<ImpressionClaims, 'itemIds' | 'issuedAt'>,
  ctx: { now: number; role: CallerRole; limits: UnitEventLimits },
): CheckedUnitEvent | UnitEventRefusal {
  const { now, role, limits } = ctx;
  const refuse = (code: string, message: string): UnitEventRefusal => ({ ok: false, code, message });

  const expiresAt = claims.issuedAt + limits.impressionTtlMs;
  if (!(now < expiresAt)) {
    return refuse('IMPRESSION_EXPIRED', `the impression expired at ${iso(expiresAt)}: impression ids are accepted for ${limits.impressionTtlMs / 1000} s after the row was served`);
  }

  const type = raw['type'] as UnitEventType;
  if (!UNIT_EVENT_TYPES.includes(type)) return refuse('TYPE_INVALID', `type must be one of ${UNIT_EVENT_TYPES.join(', ')}`);

  const position = raw['position'] ?? null;
  const itemId = raw['itemId'] ?? null;
  if (type !== 'IMPRESSION' || position !== null || itemId !== null) {
    if (!Number.isInteger(position) || (position as number) < 1 || (position as number) > claims.itemIds.length) {
      return refuse('POSITION_INVALID', `position must be between 1 and ${claims.itemIds.length} (the row's length)`);
    }
    if (itemId !== claims.itemIds[(position as number) - 1]) {
      return refuse('ITEM_MISMATCH', `the row served ${claims.itemIds[(position as number) - 1]} at position ${position}, not ${String(itemId)}`);
    }
  }

  const value = raw['value'] ?? 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_UNIT_EVENT_VALUE) {
    return refuse('VALUE_INVALID', `value must be a number between 0 and ${MAX_UNIT_EVENT_VALUE}`);
  }
  if (type === 'CONSUME' && value > limits.maxConsumeSeconds) {
    return refuse('VALUE_OUT_OF_RANGE', `a CONSUME value is at most ${limits.maxConsumeSeconds} s; got ${value}`);
  }
  if (type === 'PURCHASE' && role === 'user') {
    if (limits.maxUserPurchase <= 0) return refuse('FORBIDDEN', 'purchases are recorded by service tokens only');
    if (value > limits.maxUserPurchase) {
      return refuse('VALUE_OUT_OF_RANGE', `a PURCHASE value from a user token is at most ${limits.maxUserPurchase}; got ${value} (larger purchases come from a service token)`);
    }
  }

  const occurredAt = raw['occurredAt'] == null ? now : parseTime(raw['occurredAt']);
  if (occurredAt === null) return refuse('OCCURRED_AT_INVALID', 'occurredAt must be an ISO-8601 date-time with offset or epoch milliseconds');
  const earliest = claims.issuedAt - limits.maxSkewMs;
  const latest = now + limits.maxSkewMs;
  if (occurredAt < earliest || occurredAt > latest) {
    return refuse(
      'OCCURRED_AT_OUT_OF_RANGE',
      `occurredAt ${iso(occurredAt)} is outside the time the row could be seen: from ${iso(claims.issuedAt)} (when it was served) to now, with ${limits.maxSkewMs / 1000} s of clock skew either side`,
    );
  }

  return { ok: true, type, position: position as number | null, value, completed: raw['completed'] === true, occurredAt, expiresAt };
}
