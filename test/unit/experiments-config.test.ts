/** The experiments service's unit-event limits from the environment: safe defaults, clear errors. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/env.js';
import { loadExperimentsConfig } from '../../subgraphs/experiments/src/config.js';
import { DEFAULT_UNIT_EVENT_LIMITS } from '../../subgraphs/experiments/src/domain/unit-events.js';

describe('experiments config: unit-event limits', () => {
  it('defaults: impressions live 24 h, 5 min of skew, consumption up to 24 h, user purchases up to 1,000, 1,000 events/s per token', () => {
    const c = loadExperimentsConfig({});
    expect(c.unitEvents).toEqual({ impressionTtlMs: 24 * 3_600_000, maxSkewMs: 5 * 60_000, maxConsumeSeconds: 86_400, maxUserPurchase: 1000 });
    expect(c.unitEvents).toEqual(DEFAULT_UNIT_EVENT_LIMITS);
    expect([c.unitEventRateLimit, c.unitEventBurst]).toEqual([1000, 2000]);
  });

  it('reads durations like the other duration variables, and numbers', () => {
    const c = loadExperimentsConfig({
      IMPRESSION_TTL: '2h',
      MAX_FUTURE_SKEW: '30s',
      UNIT_EVENT_MAX_CONSUME: '4h',
      UNIT_EVENT_USER_MAX_PURCHASE: '0',
      UNIT_EVENT_RATE_LIMIT: '0',
      UNIT_EVENT_BURST: '10',
    });
    expect(c.unitEvents).toEqual({ impressionTtlMs: 7_200_000, maxSkewMs: 30_000, maxConsumeSeconds: 14_400, maxUserPurchase: 0 });
    expect([c.unitEventRateLimit, c.unitEventBurst]).toEqual([0, 10]);
  });

  it('refuses values that would switch the protections off by mistake', () => {
    for (const env of [
      { IMPRESSION_TTL: '0' },
      { IMPRESSION_TTL: 'forever' },
      { UNIT_EVENT_MAX_CONSUME: '-1h' },
      { UNIT_EVENT_USER_MAX_PURCHASE: '-5' },
      { UNIT_EVENT_USER_MAX_PURCHASE: 'lots' },
      { UNIT_EVENT_RATE_LIMIT: '1.5' },
      { UNIT_EVENT_BURST: '0' },
    ]) {
      expect(() => loadExperimentsConfig(env), JSON.stringify(env)).toThrow(ConfigError);
    }
  });
});
