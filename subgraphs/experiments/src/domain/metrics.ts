/**
 * Unit-level metrics as running aggregates. Each recorded unit event updates the user's running
 * totals for (experiment, unit) and, through the change in those totals, the variant's sufficient
 * statistics: no metric ever needs the raw events again. Updates are additive, so arrival order
 * does not matter.
 */
import { EMPTY_MEAN, EMPTY_RATIO } from './stats.js';
import type { MeanStats, RatioStats } from './stats.js';

export const UNIT_EVENT_TYPES = ['IMPRESSION', 'CLICK', 'CONSUME', 'PURCHASE'] as const;
export type UnitEventType = (typeof UNIT_EVENT_TYPES)[number];

/** A validated unit event, attributed to an experiment variant through its impression. */
export interface RecordedUnitEvent {
  eventId: string;
  experimentKey: string;
  variant: string;
  unitId: string;
  userId: string;
  /** The served row (lib/contracts/impression.ts impressionKey): event ids and caps are kept per row. */
  impressionKey: string;
  /** When the row's impression id expires (epoch ms); what is kept for the row goes then. */
  expiresAt: number;
  type: UnitEventType;
  /** 1-based position in the row; null for an IMPRESSION that names none. */
  position: number | null;
  /** Seconds consumed (CONSUME) or revenue (PURCHASE). */
  value: number;
  completed: boolean;
  occurredAt: number;
  /** The user's pre-exposure covariate, recorded with its assignment (0 when none was). */
  covariate: number;
}

/**
 * The slot of its row an event takes: a row has one exposure (IMPRESSION, whatever the position),
 * and each other type counts once per served position. A second event for a taken slot is not
 * counted.
 */
export function unitEventSlot(e: Pick<RecordedUnitEvent, 'type' | 'position'>): string {
  return e.type === 'IMPRESSION' ? 'IMPRESSION' : `${e.type}:${e.position ?? 0}`;
}

/** What one user did at one position of the row: clicks and seconds consumed there. */
export interface SlotTotals {
  clicks: number;
  consumption: number;
}

/** One user's totals in one unit (or in all units) of an experiment. */
export interface UserTotals {
  impressions: number;
  clicks: number;
  consumption: number;
  completions: number;
  revenue: number;
  engaged: 0 | 1;
  /** By 1-based position (as a string key): only positions with a click or a consumption. */
  slots?: Record<string, SlotTotals>;
}

/**
 * Per user, what one position contributed (x: clicks or seconds there) next to the user's
 * impressions (y, the row's exposures): a ratio metric per slot, as `ctr` is for the row.
 */
export interface SlotStats {
  sumX: number;
  sumX2: number;
  sumXY: number;
}

/**
 * Sums of the pre-exposure covariate c per user (CUPED): Σc, Σc², and for each per-user metric
 * x, Σx·c, so a regression adjustment needs no per-user data.
 */
export interface CovariateStats {
  sum: number;
  sumSq: number;
  /** Σ metric·c for consumption, engaged, revenue and clicks. */
  consumption: number;
  engaged: number;
  revenue: number;
  clicks: number;
}

export interface VariantAggregate {
  exposedUsers: number;
  impressions: number;
  clicks: number;
  completions: number;
  /** Per user: clicks (x) over impressions (y). */
  ctr: RatioStats;
  consumption: MeanStats;
  engaged: MeanStats;
  revenue: MeanStats;
  covariate: CovariateStats;
  /** By position: clicks and consumption there, per user, against the user's impressions. */
  slots: Record<string, { clicks: SlotStats; consumption: SlotStats }>;
}

export const ZERO_TOTALS: UserTotals = { impressions: 0, clicks: 0, consumption: 0, completions: 0, revenue: 0, engaged: 0 };
export const EMPTY_COVARIATE: CovariateStats = { sum: 0, sumSq: 0, consumption: 0, engaged: 0, revenue: 0, clicks: 0 };
const EMPTY_SLOT: SlotStats = { sumX: 0, sumX2: 0, sumXY: 0 };
/** A position's statistics before any event there. */
export const emptySlot = (): { clicks: SlotStats; consumption: SlotStats } => ({ clicks: { ...EMPTY_SLOT }, consumption: { ...EMPTY_SLOT } });

export function emptyAggregate(): VariantAggregate {
  return {
    exposedUsers: 0,
    impressions: 0,
    clicks: 0,
    completions: 0,
    ctr: { ...EMPTY_RATIO },
    consumption: { ...EMPTY_MEAN },
    engaged: { ...EMPTY_MEAN },
    revenue: { ...EMPTY_MEAN },
    covariate: { ...EMPTY_COVARIATE },
    slots: {},
  };
}

export function addEvent(totals: UserTotals, e: Pick<RecordedUnitEvent, 'type' | 'value' | 'completed' | 'position'>): UserTotals {
  const next: UserTotals = { ...totals, ...(totals.slots ? { slots: { ...totals.slots } } : {}) };
  const slot = () => {
    const key = String(e.position ?? 0);
    const slots = (next.slots ??= {});
    return (slots[key] = { ...(slots[key] ?? { clicks: 0, consumption: 0 }) });
  };
  switch (e.type) {
    case 'IMPRESSION':
      next.impressions += 1;
      break;
    case 'CLICK':
      next.clicks += 1;
      next.engaged = 1;
      if (e.position !== null) slot().clicks += 1;
      break;
    case 'CONSUME':
      next.consumption += e.value;
      if (e.completed) next.completions += 1;
      next.engaged = 1;
      if (e.position !== null) slot().consumption += e.value;
      break;
    case 'PURCHASE':
      next.revenue += e.value;
      next.engaged = 1;
      break;
  }
  return next;
}

function shiftMean(s: MeanStats, before: number, after: number, newUser: boolean): MeanStats {
  return { n: s.n + (newUser ? 1 : 0), sum: s.sum + after - before, sumSq: s.sumSq + after * after - before * before };
}

/**
 * The aggregate after one user's totals moved from `before` (undefined: the user's first event in
 * this unit, which is their exposure) to `after`.
 */
export function shiftAggregate(agg: VariantAggregate, before: UserTotals | undefined, after: UserTotals, covariate = 0): VariantAggregate {
  const newUser = before === undefined;
  const b = before ?? ZERO_TOTALS;
  const c = covariate;
  const cov = agg.covariate;
  const slots = { ...agg.slots };
  for (const key of new Set([...Object.keys(b.slots ?? {}), ...Object.keys(after.slots ?? {})])) {
    const x0 = b.slots?.[key] ?? { clicks: 0, consumption: 0 };
    const x1 = after.slots?.[key] ?? { clicks: 0, consumption: 0 };
    const s = slots[key] ?? emptySlot();
    const shift = (st: SlotStats, m: 'clicks' | 'consumption'): SlotStats => ({
      sumX: st.sumX + x1[m] - x0[m],
      sumX2: st.sumX2 + x1[m] ** 2 - x0[m] ** 2,
      sumXY: st.sumXY + x1[m] * after.impressions - x0[m] * b.impressions,
    });
    slots[key] = { clicks: shift(s.clicks, 'clicks'), consumption: shift(s.consumption, 'consumption') };
  }
  return {
    exposedUsers: agg.exposedUsers + (newUser ? 1 : 0),
    impressions: agg.impressions + after.impressions - b.impressions,
    clicks: agg.clicks + after.clicks - b.clicks,
    completions: agg.completions + after.completions - b.completions,
    ctr: {
      n: agg.ctr.n + (newUser ? 1 : 0),
      sumX: agg.ctr.sumX + after.clicks - b.clicks,
      sumY: agg.ctr.sumY + after.impressions - b.impressions,
      sumX2: agg.ctr.sumX2 + after.clicks ** 2 - b.clicks ** 2,
      sumY2: agg.ctr.sumY2 + after.impressions ** 2 - b.impressions ** 2,
      sumXY: agg.ctr.sumXY + after.clicks * after.impressions - b.clicks * b.impressions,
    },
    consumption: shiftMean(agg.consumption, b.consumption, after.consumption, newUser),
    engaged: shiftMean(agg.engaged, b.engaged, after.engaged, newUser),
    revenue: shiftMean(agg.revenue, b.revenue, after.revenue, newUser),
    covariate: {
      sum: cov.sum + (newUser ? c : 0),
      sumSq: cov.sumSq + (newUser ? c * c : 0),
      consumption: cov.consumption + (after.consumption - b.consumption) * c,
      engaged: cov.engaged + (after.engaged - b.engaged) * c,
      revenue: cov.revenue + (after.revenue - b.revenue) * c,
      clicks: cov.clicks + (after.clicks - b.clicks) * c,
    },
    slots,
  };
}

/** Aggregates over all units are kept under this unit id. */
export const ALL_UNITS = '*';
