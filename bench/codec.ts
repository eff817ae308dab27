/**
 * npm run bench:codec — what a profile costs to store: bytes and encode + decode time of the
 * profile's storage codec (MessagePack with records, subgraphs/profile/src/store/codec.ts)
 * against JSON (what it replaced), in the same process, for two profiles: one at every size
 * bound of the profile (ProfileLimits: 50 genres and categories, 3 facets × 30 keys, 50 recent
 * and 500 consumed items, 100 SKUs, 50 series × 500 episodes (every sixth one skipped, so each
 * series is 100 runs), 100 traits, 64 applied event ids)
 * and a typical one (60 events). Bytes in Redis are MEMORY USAGE of the profile's hash, written
 * once per encoding, when Redis answers at REDIS_URL.
 */
import { Redis } from 'ioredis';
import type { ProfileEvent } from '../lib/contracts/event.js';
import { DEFAULT_REDUCER_CONFIG } from '../subgraphs/profile/src/domain/config.js';
import { applyEvents } from '../subgraphs/profile/src/domain/reducer.js';
import type { Profile } from '../subgraphs/profile/src/domain/profile.js';
import { adoptProfile } from '../subgraphs/profile/src/domain/profile.js';
import { decodeProfile, encodeProfile } from '../subgraphs/profile/src/store/codec.js';
import { percentiles } from './lib/synthetic.js';
import { saveReport } from './lib/report.js';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const ROUNDS = Number(process.env['BENCH_CODEC_ROUNDS'] ?? 2000);
const json = process.argv.includes('--json');
const log = (m: string) => {
  if (!json) console.error(m);
};

const limits = DEFAULT_REDUCER_CONFIG.limits;
const NOW = Date.now();
const TYPES = ['PLAY', 'COMPLETE', 'VIEW', 'PURCHASE', 'ADD_TO_CART'] as const;

function event(i: number, over: Partial<ProfileEvent> = {}): ProfileEvent {
  return {
    eventId: `evt-${i}`,
    userId: 'bench-codec-user',
    type: TYPES[i % TYPES.length]!,
    occurredAt: NOW - (200_000 - i) * 1000,
    receivedAt: NOW,
    item: {
      id: `item-${i % (limits.consumedItems + 20)}`,
      kind: 'MOVIE',
      title: `Title number ${i % (limits.consumedItems + 20)}`,
      genres: [`genre-${i % (limits.affinityKeys + 5)}`, `genre-${(i * 7) % (limits.affinityKeys + 5)}`],
      category: `Category/Sub-${i % (limits.affinityKeys + 5)}`,
      sku: `SKU-${String(i % (limits.skus + 10)).padStart(6, '0')}`,
      metadata: { director: `Director ${i % (limits.facetKeys + 3)}`, cast: [`Actor ${i % (limits.facetKeys + 3)}`, `Actor ${(i + 3) % (limits.facetKeys + 3)}`], brand: `Brand ${i % (limits.facetKeys + 3)}` },
    },
    properties: { price: 9.99 },
    ...over,
  };
}

/** A profile with every bound of ProfileLimits reached. */
function atBounds(): Profile {
  const events: ProfileEvent[] = [];
  let n = 0;
  for (let i = 0; i < limits.consumedItems + 200; i++) events.push(event(n++));
  for (let s = 0; s < limits.series; s++) {
    // Episodes with gaps (every sixth one skipped), so the stored runs are many, not one per series.
    const watched = Array.from({ length: Math.ceil(limits.episodesPerSeries * 1.2) + 1 }, (_, i) => i + 1).filter((e) => e % 6 !== 0).slice(0, limits.episodesPerSeries);
    for (const e of watched) {
      const base = event(n++, { type: 'PLAY' });
      events.push({ ...base, item: { ...base.item!, id: `ep-${s}-${e}`, kind: 'EPISODE', seriesId: `series-${s}`, episode: e, title: `Series ${s} episode ${e}` } });
    }
  }
  for (let t = 0; t < limits.traitKeys; t++) events.push({ eventId: `trait-${t}`, userId: 'bench-codec-user', type: 'IDENTIFY', occurredAt: NOW - t, traits: { [`trait-${t}`]: `value of trait ${t}` } });
  return applyEvents(null, events, DEFAULT_REDUCER_CONFIG).profile;
}

function typical(): Profile {
  return applyEvents(null, Array.from({ length: 60 }, (_, i) => event(i)), DEFAULT_REDUCER_CONFIG).profile;
}

interface CodecFigures {
  bytes: number;
  redisBytes: number | null;
  /** Encode + decode of the whole profile, microseconds. */
  roundTripUs: { p50: number; p99: number };
  encodeUs: number;
  decodeUs: number;
}

const jsonCodec = {
  encode: (p: Profile) => Buffer.from(JSON.stringify(p), 'utf8'),
  decode: (b: Buffer) => adoptProfile(JSON.parse(b.toString('utf8')) as Profile),
};
const msgpackCodec = { encode: encodeProfile, decode: decodeProfile };

/** Rounds interleaved between the codecs, so that both see the same machine. */
function measure(profile: Profile, redisBytes: Record<string, number | null>): Record<'json' | 'msgpack', CodecFigures> {
  const codecs = { json: jsonCodec, msgpack: msgpackCodec } as const;
  const samples = { json: [] as number[], msgpack: [] as number[] };
  const enc = { json: 0, msgpack: 0 };
  const dec = { json: 0, msgpack: 0 };
  for (let round = 0; round < ROUNDS + 200; round++) {
    for (const name of ['json', 'msgpack'] as const) {
      const t0 = process.hrtime.bigint();
      const doc = codecs[name].encode(profile);
      const t1 = process.hrtime.bigint();
      codecs[name].decode(doc);
      const t2 = process.hrtime.bigint();
      if (round < 200) continue; // warm-up
      samples[name].push(Number(t2 - t0) / 1000);
      enc[name] += Number(t1 - t0) / 1000;
      dec[name] += Number(t2 - t1) / 1000;
    }
  }
  const figures = (name: 'json' | 'msgpack'): CodecFigures => {
    const p = percentiles(samples[name]);
    return { bytes: codecs[name].encode(profile).length, redisBytes: redisBytes[name] ?? null, roundTripUs: { p50: p.p50, p99: p.p99 }, encodeUs: enc[name] / ROUNDS, decodeUs: dec[name] / ROUNDS };
  };
  return { json: figures('json'), msgpack: figures('msgpack') };
}

/** MEMORY USAGE of a profile hash as the store writes it (rev, doc, tok), per encoding. */
async function redisBytes(redis: Redis | null, profile: Profile): Promise<Record<string, number | null>> {
  if (!redis) return {};
  const out: Record<string, number | null> = {};
  for (const [name, doc] of [['json', jsonCodec.encode(profile)], ['msgpack', encodeProfile(profile)]] as const) {
    const key = `bench:codec:{u:bench-codec-user}:${name}`;
    await redis.hset(key, 'rev', '42', 'doc', doc, 'tok', 'AbCdEfGhIjKl:1x');
    out[name] = (await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) as number;
    await redis.del(key);
  }
  return out;
}

async function main() {
  let redis: Redis | null = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
  } catch {
    log(`no Redis at ${REDIS_URL}: bytes in Redis not measured`);
    redis = null;
  }
  const result: Record<string, Record<'json' | 'msgpack', CodecFigures>> = {};
  for (const [name, profile] of [['atBounds', atBounds()], ['typical', typical()]] as const) {
    log(`${name}: measuring ${ROUNDS} round trips per codec...`);
    result[name] = measure(profile, await redisBytes(redis, profile));
  }
  redis?.disconnect();
  saveReport(result);
  const f = (n: number) => Math.round(n).toLocaleString('en-US');
  const us = (n: number) => (n >= 100 ? f(n) : n.toFixed(1));
  console.log('| profile | encoding | bytes | bytes in Redis (MEMORY USAGE) | encode + decode p50 / p99 | encode / decode mean |');
  console.log('|---|---|---|---|---|---|');
  for (const [name, figures] of Object.entries(result)) {
    for (const codec of ['json', 'msgpack'] as const) {
      const c = figures[codec];
      console.log(`| ${name === 'atBounds' ? 'at its size bounds' : 'typical (60 events)'} | ${codec === 'json' ? 'JSON (before)' : 'MessagePack records (now)'} | ${f(c.bytes)} | ${c.redisBytes === null ? 'n/a' : f(c.redisBytes)} | ${us(c.roundTripUs.p50)} / ${us(c.roundTripUs.p99)} µs | ${us(c.encodeUs)} / ${us(c.decodeUs)} µs |`);
    }
    const [j, m] = [figures.json, figures.msgpack];
    console.log(`| ${name === 'atBounds' ? 'at its size bounds' : 'typical (60 events)'} | MessagePack ÷ JSON | ${(m.bytes / j.bytes).toFixed(2)} | ${m.redisBytes && j.redisBytes ? (m.redisBytes / j.redisBytes).toFixed(2) : 'n/a'} | ${(m.roundTripUs.p50 / j.roundTripUs.p50).toFixed(2)} / ${(m.roundTripUs.p99 / j.roundTripUs.p99).toFixed(2)} | |`);
  }
}

await main();
