/**
 * Redis adapters of the audiences stores; all key building and Lua lives here. A user's
 * memberships are one hash in the user's slot (`{u:<id>}:aud`, the same hash tag as the profile),
 * changed by one script per evaluation: atomic and idempotent per user on a cluster too. Each
 * audience's member index (a sorted set by entry time) is in the audience's own slot and follows
 * the user's hash on each transition (ZADD / ZREM are idempotent). The script also records each
 * transition as unsent in the hash; a crash before its change is written out and acknowledged
 * leaves it there, and the user's next evaluation emits it and writes the index again (README,
 * Guarantees).
 */
import { closable } from '../../../../lib/dispose.js';
import type { RedisClient } from '../../../../lib/redis/connection.js';
import { userKey } from '../../../../lib/redis/connection.js';
import type { Destination } from '../app/destinations.js';
import type { Audience } from '../domain/audience.js';
import { RedisDeliveryStatusStore } from './destination-status.js';
import { dueKey, memberCursor, parseMemberCursor, splitDueKey } from './memory.js';
import type { AudienceStore, AudienceStores, DestinationStore, DueStore, Membership, MembershipDecision, MembershipStore, MembershipTransition, UnsentTransition, UserMemberships } from './ports.js';

import type { Result } from 'ioredis';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    audienceMembershipApply(key: string, version: string, at: string, tag: string, basis: string, ...decisions: string[]): Result<string[], Context>;
    audienceReplace(key: string, id: string, revision: string, doc: string): Result<number, Context>;
    audienceLease(key: string, holder: string, ttlMs: string): Result<number, Context>;
    audienceRelease(key: string, holder: string): Result<number, Context>;
    audienceDueClaim(key: string, now: string, limit: string, until: string): Result<string[], Context>;
  }
}

/**
 * KEYS[1] the user's membership hash; ARGV: profile version ('' : none, no check), decision time,
 * tag, basis ('' : none), then pairs of (audience id, 1|0). Fields: `#v` the newest version
 * decided on; `#n` the user's generation (transitions so far, of every audience); `m:<audience>` =
 * `<seq>|<since>` for a member, `<seq>|` after it exited (the count of transitions stays, so
 * change ids never repeat); `o:<seq>:<audience>` = `<1|0>|<at>|<version>|<tag>` a transition not
 * yet acknowledged (the outbox, written with the membership). With a basis (the generation the
 * caller read; it sent only the decisions that differ from that read), nothing is done when the
 * generation moved since, and `!` is returned: the caller sends every decision. Returns the
 * transitions as `<audience>|<1|0>|<seq>`. One read and one write of the hash.
 */
const APPLY_LUA = `
local fields = {'#v', '#n'}
for i = 5, #ARGV, 2 do fields[#fields + 1] = 'm:' .. ARGV[i] end
-- In chunks: Lua's unpack takes a few thousand values at most (an alias evaluates every audience).
local current = {}
for from = 1, #fields, 1000 do
  local part = redis.call('HMGET', KEYS[1], unpack(fields, from, math.min(from + 999, #fields)))
  for j = 1, #part do current[from + j - 1] = part[j] end
end
if ARGV[4] ~= '' and tonumber(current[2] or '0') ~= tonumber(ARGV[4]) then return {'!'} end
local writes = {}
if ARGV[1] ~= '' then
  local v = tonumber(ARGV[1])
  local stored = tonumber(current[1] or '-1')
  if v < stored then return {} end
  if v > stored then writes[#writes + 1] = '#v'; writes[#writes + 1] = v end
end
local note = '|' .. ARGV[2] .. '|' .. ARGV[1] .. '|' .. ARGV[3]
local out = {}
for i = 5, #ARGV, 2 do
  local cur = current[(i - 5) / 2 + 3]
  local want = ARGV[i + 1] == '1'
  local seq, since = 0, ''
  if cur then
    local bar = string.find(cur, '|', 1, true)
    seq = tonumber(string.sub(cur, 1, bar - 1))
    since = string.sub(cur, bar + 1)
  end
  local member = since ~= ''
  if want ~= member then
    seq = seq + 1
    local flag = want and '1' or '0'
    writes[#writes + 1] = 'm:' .. ARGV[i]
    if want then writes[#writes + 1] = seq .. '|' .. ARGV[2] else writes[#writes + 1] = seq .. '|' end
    writes[#writes + 1] = 'o:' .. seq .. ':' .. ARGV[i]
    writes[#writes + 1] = flag .. note
    out[#out + 1] = ARGV[i] .. '|' .. flag .. '|' .. seq
  end
end
if #out > 0 then writes[#writes + 1] = '#n'; writes[#writes + 1] = tonumber(current[2] or '0') + #out end
for from = 1, #writes, 1000 do redis.call('HSET', KEYS[1], unpack(writes, from, math.min(from + 999, #writes))) end
return out
`;

/** KEYS[1] the audiences hash; replaces ARGV[1] with ARGV[3] when its revision is ARGV[2]. */
const REPLACE_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
if tostring(cjson.decode(cur).revision) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HINCRBY', KEYS[1], '#version', 1)
return 1
`;

/** KEYS[1] the lease; taken when free or already held by ARGV[1]. */
const LEASE_LUA = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/** KEYS[1] the lease; removed only when ARGV[1] still holds it. */
const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`;

/** KEYS[1] the due set: takes up to ARGV[2] members due by ARGV[1], leaving them due at ARGV[3]. */
const CLAIM_LUA = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
for i = 1, #due, 2 do redis.call('ZADD', KEYS[1], ARGV[3], due[i]) end
return due
`;

export class AudienceKeys {
  constructor(readonly prefix: string) {}
  audiences() {
    return `${this.prefix}aud:audiences`;
  }
  lease(audienceId: string) {
    return `${this.prefix}aud:{a:${audienceId}}:lease`;
  }
  members(audienceId: string) {
    return `${this.prefix}aud:{a:${audienceId}}:members`;
  }
  memberships(userId: string) {
    return userKey(this.prefix, userId, 'aud');
  }
  due() {
    return `${this.prefix}aud:due`;
  }
  destinations() {
    return `${this.prefix}aud:destinations`;
  }
}

function define(redis: RedisClient): void {
  if (typeof (redis as unknown as Record<string, unknown>)['audienceMembershipApply'] === 'function') return;
  redis.defineCommand('audienceMembershipApply', { numberOfKeys: 1, lua: APPLY_LUA });
  redis.defineCommand('audienceReplace', { numberOfKeys: 1, lua: REPLACE_LUA });
  redis.defineCommand('audienceLease', { numberOfKeys: 1, lua: LEASE_LUA });
  redis.defineCommand('audienceRelease', { numberOfKeys: 1, lua: RELEASE_LUA });
  redis.defineCommand('audienceDueClaim', { numberOfKeys: 1, lua: CLAIM_LUA });
}

export class RedisAudienceStore implements AudienceStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: AudienceKeys,
  ) {}
  async get(ids: readonly string[]) {
    if (ids.length === 0) return [];
    const docs = await this.redis.hmget(this.keys.audiences(), ...ids);
    return docs.map((d) => (d ? (JSON.parse(d) as Audience) : null));
  }
  async list() {
    const all = await this.redis.hgetall(this.keys.audiences());
    return Object.entries(all)
      .filter(([field]) => field !== '#version')
      .map(([, d]) => JSON.parse(d) as Audience)
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }
  async create(audience: Audience) {
    const created = await this.redis.hsetnx(this.keys.audiences(), audience.id, JSON.stringify(audience));
    if (created === 1) await this.redis.hincrby(this.keys.audiences(), '#version', 1);
    return created === 1;
  }
  async replace(audience: Audience, expectedRevision: number) {
    return (await this.redis.audienceReplace(this.keys.audiences(), audience.id, String(expectedRevision), JSON.stringify(audience))) === 1;
  }
  async delete(id: string) {
    const removed = await this.redis.hdel(this.keys.audiences(), id);
    if (removed > 0) await this.redis.hincrby(this.keys.audiences(), '#version', 1);
    return removed > 0;
  }
  async version() {
    return Number((await this.redis.hget(this.keys.audiences(), '#version')) ?? 0);
  }
  async lease(audienceId: string, holder: string, ttlMs: number) {
    return (await this.redis.audienceLease(this.keys.lease(audienceId), holder, String(ttlMs))) === 1;
  }
  async release(audienceId: string, holder: string) {
    await this.redis.audienceRelease(this.keys.lease(audienceId), holder);
  }
}

export class RedisMembershipStore implements MembershipStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: AudienceKeys,
  ) {}

  /**
   * With a basis, only the decisions that differ from it go to Redis (an evaluation decides on
   * dozens of audiences and changes few), guarded by its generation; when another evaluation
   * changed the user since, every decision goes.
   */
  async apply(userId: string, profileVersion: number | null, at: number, decisions: readonly MembershipDecision[], tag = '', basis?: UserMemberships): Promise<MembershipTransition[]> {
    if (decisions.length === 0) return [];
    const key = this.keys.memberships(userId);
    const version = profileVersion === null ? '' : String(profileVersion);
    const args = (list: readonly MembershipDecision[]) => list.flatMap((d) => [d.audienceId, d.member ? '1' : '0']);
    let raw: string[] | null = null;
    if (basis) {
      const read = new Set(basis.memberships.map((m) => m.audienceId));
      raw = await this.redis.audienceMembershipApply(key, version, String(at), tag, String(basis.generation), ...args(decisions.filter((d) => d.member !== read.has(d.audienceId))));
      if (raw[0] === '!') raw = null;
    }
    raw ??= await this.redis.audienceMembershipApply(key, version, String(at), tag, '', ...args(decisions));
    const transitions = raw.map((t) => {
      const [audienceId, entered, seq] = t.split('|') as [string, string, string];
      return { audienceId, entered: entered === '1', seq: Number(seq) };
    });
    await Promise.all(
      transitions.map((t) => (t.entered ? this.redis.zadd(this.keys.members(t.audienceId), at, userId) : this.redis.zrem(this.keys.members(t.audienceId), userId))),
    );
    return transitions;
  }

  async acknowledge(userId: string, transitions: readonly MembershipTransition[], reindex = false) {
    if (transitions.length === 0) return;
    const key = this.keys.memberships(userId);
    if (reindex) {
      const audiences = [...new Set(transitions.map((t) => t.audienceId))];
      const current = await this.redis.hmget(key, ...audiences.map((a) => `m:${a}`));
      await Promise.all(
        audiences.map((a, i) => {
          const since = sinceOf(current[i] ?? null);
          return since === null ? this.redis.zrem(this.keys.members(a), userId) : this.redis.zadd(this.keys.members(a), since, userId);
        }),
      );
    }
    await this.redis.hdel(key, ...transitions.map((t) => `o:${t.seq}:${t.audienceId}`));
  }

  async of(userId: string): Promise<Membership[]> {
    return membershipsOf(await this.redis.hgetall(this.keys.memberships(userId)));
  }
  /** The queries' read: the outbox fields are not parsed. */
  async ofMany(userIds: readonly string[]) {
    return (await this.hashes(userIds)).map(membershipsOf);
  }
  async read(userIds: readonly string[]): Promise<UserMemberships[]> {
    return (await this.hashes(userIds)).map((hash) => ({ memberships: membershipsOf(hash), unsent: unsentOf(hash), generation: Number(hash['#n'] ?? 0) }));
  }
  private hashes(userIds: readonly string[]) {
    return Promise.all(userIds.map((id) => this.redis.hgetall(this.keys.memberships(id))));
  }

  async members(audienceId: string, first: number, cursor: string | null) {
    const key = this.keys.members(audienceId);
    const after = cursor === null ? null : parseMemberCursor(cursor);
    const out: { userId: string; since: number }[] = [];
    const min = after === null ? '-inf' : String(after.since);
    // Members tied with the cursor's entry time are listed by id (the sorted set's order), so
    // skip those up to the cursor's id; read in pages until `first` + 1 are found.
    for (let offset = 0; out.length <= first; ) {
      const page = await this.redis.zrangebyscore(key, min, '+inf', 'WITHSCORES', 'LIMIT', offset, first + 1);
      if (page.length === 0) break;
      for (let i = 0; i < page.length; i += 2) {
        const userId = page[i]!;
        const since = Number(page[i + 1]);
        if (after && since === after.since && userId <= after.userId) continue;
        out.push({ userId, since });
      }
      if (page.length < 2 * (first + 1)) break;
      offset += first + 1;
    }
    const members = out.slice(0, first);
    const last = members[members.length - 1];
    return { members, cursor: out.length > first && last ? memberCursor(last.since, last.userId) : null };
  }

  async size(audienceIds: readonly string[]) {
    return Promise.all(audienceIds.map((id) => this.redis.zcard(this.keys.members(id))));
  }

  async forgetUser(userId: string, at: number, tag = '') {
    const key = this.keys.memberships(userId);
    const left = membershipsOf(await this.redis.hgetall(key)).map((m) => m.audienceId);
    // Members exit (their index entries with them); transition counts stay (change ids never
    // repeat) and versions restart.
    const exits = await this.apply(userId, null, at, left.map((audienceId) => ({ audienceId, member: false })), tag);
    await this.redis.hset(key, '#v', -1);
    return exits;
  }

  async dropAudience(audienceId: string) {
    await this.redis.del(this.keys.members(audienceId));
  }
}

/** A `m:` field's entry time (null: not a member). */
function sinceOf(value: string | null): number | null {
  const since = value === null ? '' : value.slice(value.indexOf('|') + 1);
  return since === '' ? null : Number(since);
}

function membershipsOf(hash: Record<string, string>): Membership[] {
  const out: Membership[] = [];
  for (const [field, value] of Object.entries(hash)) {
    if (!field.startsWith('m:')) continue;
    const since = sinceOf(value);
    if (since !== null) out.push({ audienceId: field.slice(2), since });
  }
  return out;
}

/** The `o:<seq>:<audience>` fields (APPLY_LUA), oldest first. */
function unsentOf(hash: Record<string, string>): UnsentTransition[] {
  const out: UnsentTransition[] = [];
  for (const [field, value] of Object.entries(hash)) {
    if (!field.startsWith('o:')) continue;
    const colon = field.indexOf(':', 2);
    const [flag, at, version] = value.split('|', 3) as [string, string, string];
    const tag = value.slice(flag.length + at.length + version.length + 3);
    out.push({ audienceId: field.slice(colon + 1), seq: Number(field.slice(2, colon)), entered: flag === '1', at: Number(at), profileVersion: version === '' ? null : Number(version), tag });
  }
  return out.sort((a, b) => a.at - b.at || a.seq - b.seq);
}

export class RedisDueStore implements DueStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: AudienceKeys,
  ) {}
  async schedule(entries: readonly { audienceId: string; userId: string; at: number | null }[]) {
    const add = entries.filter((e) => e.at !== null).flatMap((e) => [e.at!, dueKey(e.audienceId, e.userId)]);
    const remove = entries.filter((e) => e.at === null).map((e) => dueKey(e.audienceId, e.userId));
    await Promise.all([add.length > 0 && this.redis.zadd(this.keys.due(), ...add), remove.length > 0 && this.redis.zrem(this.keys.due(), ...remove)]);
  }
  async claim(now: number, limit: number, leaseMs: number) {
    const flat = await this.redis.audienceDueClaim(this.keys.due(), String(now), String(limit), String(now + leaseMs));
    const out: { audienceId: string; userId: string; at: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const [audienceId, userId] = splitDueKey(flat[i]!);
      out.push({ audienceId, userId, at: Number(flat[i + 1]) });
    }
    return out;
  }
  async next() {
    const head = await this.redis.zrange(this.keys.due(), 0, 0, 'WITHSCORES');
    return head.length === 2 ? Number(head[1]) : null;
  }
  /** Without a scan: a deleted audience's pairs are dropped as they come due (the service skips them). */
  async dropAudience(): Promise<void> {}
}

export class RedisDestinationStore implements DestinationStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: AudienceKeys,
  ) {}
  async list() {
    return (await this.redis.hvals(this.keys.destinations())).map((d) => JSON.parse(d) as Destination);
  }
  async put(d: Destination) {
    await this.redis.hset(this.keys.destinations(), d.id, JSON.stringify(d));
  }
  async delete(id: string) {
    const doc = await this.redis.hget(this.keys.destinations(), id);
    if (!doc) return null;
    await this.redis.hdel(this.keys.destinations(), id);
    return JSON.parse(doc) as Destination;
  }
}

export function createRedisAudienceStores(redis: RedisClient, prefix: string): AudienceStores {
  define(redis);
  const keys = new AudienceKeys(prefix);
  return closable({
    audiences: new RedisAudienceStore(redis, keys),
    memberships: new RedisMembershipStore(redis, keys),
    due: new RedisDueStore(redis, keys),
    destinations: new RedisDestinationStore(redis, keys),
    deliveryStatus: new RedisDeliveryStatusStore(redis, prefix),
    close: async () => {},
  });
}
