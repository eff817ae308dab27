/**
 * Redis adapters of the profile stores. All key building and Lua lives here. Keys carry the user
 * id as a hash tag (`{u:<id>}`) so a user's profile and snapshot share a slot on a cluster.
 */
import { closable } from '../../../../lib/dispose.js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { LRUCache } from 'lru-cache';
import type { RedisClient } from '../../../../lib/redis/connection.js';
import { isCluster, scanKeys, scanTargets, userKey } from '../../../../lib/redis/connection.js';
import { eventKey } from '../../../../lib/contracts/event.js';
import type { ProfileEvent } from '../../../../lib/contracts/event.js';
import type { Profile } from '../domain/profile.js';
import { applyEvents } from '../domain/reducer.js';
import { DEFAULT_REDUCER_CONFIG } from '../domain/config.js';
import { decodeProfile, encodeProfile } from './codec.js';
import { AliasedProfileError, DEFAULT_CACHE_MB, DEFAULT_COMPACT_EVERY, DEFAULT_WRITE_CACHE } from './ports.js';
import type { Appended, FoldEvents, IdentityStore, Ledger, ProfileSnapshot, ProfileStore, ProfileStores, SnapshotStore, StoredTraitDefinition, TraitDefinitionStore } from './ports.js';

const lua = (name: string) => readFileSync(new URL(`./lua/${name}`, import.meta.url), 'utf8');
const LEDGER_LUA = lua('profile-ledger.lua');
const CAS_LUA = LEDGER_LUA + lua('profile-cas.lua');
const APPEND_LUA = LEDGER_LUA + lua('profile-append.lua');
const DELETE_LUA = readFileSync(new URL('./lua/profile-delete.lua', import.meta.url), 'utf8');
/** How long a deleted profile's write counter outlives it. */
const TOMBSTONE_TTL_MS = 86_400_000;

import type { Result } from 'ioredis';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    profileCas(key: string, aliasKey: string, ledgerKey: string, ...args: (string | Buffer)[]): Result<number, Context>;
    profileAppend(key: string, aliasKey: string, ledgerKey: string, ...args: string[]): Result<number | [number, number, number, number], Context>;
    profileDelete(key: string, tombstoneTtlMs: string): Result<number, Context>;
  }
}

export class ProfileKeys {
  constructor(private readonly prefix: string) {}
  profile(userId: string) {
    return userKey(this.prefix, userId, 'profile');
  }
  snapshot(userId: string) {
    return userKey(this.prefix, userId, 'snapshot');
  }
  profilePattern() {
    return userKey(this.prefix, '*', 'profile');
  }
  /** The ids of the events applied to the profile (see Ledger), beside it in its slot. */
  ledger(userId: string) {
    return userKey(this.prefix, userId, 'applied');
  }
  alias(anonymousId: string) {
    return userKey(this.prefix, anonymousId, 'alias');
  }
  aliasesOf(userId: string) {
    return userKey(this.prefix, userId, 'aliases');
  }
  /** Bumped on every alias change, so resolvers may cache lookups until it moves. */
  aliasEpoch() {
    return `${this.prefix}alias-epoch`;
  }
}


/**
 * A stored profile as this process wrote or read it: its revision and the unique token of the
 * write that made it. The profile is `base` with `pending` folded in (events this process appended
 * since, folded when the profile is next needed: an append does not need it).
 */
interface Written {
  rev: number;
  token: string;
  base: Profile;
  pending: ProfileEvent[];
  /** Bytes of its stored document and events (the cache's size cap counts these). */
  bytes: number;
  /**
   * The token of the write that stored the document this copy was built from (dt), and how many
   * of the events appended since (the lines of p) `base` holds besides `pending`: a read that finds
   * the same document folds only the lines after those, without fetching or decoding it.
   * Undefined when unknown (a document stored before dt, or a copy built by a write of this
   * process on a state it did not read whole).
   */
  docToken?: string | undefined;
  folded: number;
}

/** A profile hash as read: its fields, the events appended since its document in the order they were appended. */
interface StoredState {
  rev: string | undefined;
  token: string | undefined;
  /** The token of the write that stored the document (or the first append onto none): dt. */
  docToken: string | undefined;
  doc: Buffer | undefined;
  pending: ProfileEvent[];
  bytes: number;
  fields: Record<string, Buffer>;
}

/**
 * The pending field p: one JSON event a line (JSON.stringify leaves no raw newline in one), those
 * after the first `skip` lines (a reader that holds a copy with those folded in parses only the rest).
 */
function pendingEvents(lines: Buffer | null | undefined, skip = 0): ProfileEvent[] {
  if (!lines) return [];
  let from = 0;
  for (let i = 0; i < skip; i++) {
    const nl = lines.indexOf(0x0a, from);
    if (nl < 0) return [];
    from = nl + 1;
  }
  return from >= lines.length ? [] : (JSON.parse(`[${lines.toString('utf8', from).replaceAll('\n', ',')}]`) as ProfileEvent[]);
}

function storedState(fields: Record<string, Buffer>): StoredState {
  let bytes = 0;
  for (const name in fields) bytes += fields[name]!.length;
  return { rev: fields['rev']?.toString(), token: fields['tok']?.toString(), docToken: fields['dt']?.toString(), doc: fields['doc'], pending: pendingEvents(fields['p']), bytes, fields };
}

/**
 * The profiles this process wrote or read last (least recently used dropped first). A writer that finds
 * the user here skips the read: it applies its change to a copy and compare-and-sets against that
 * write's revision and token, which fails (and falls back to a fresh read) if any other writer,
 * replica, deletion or expiry changed the profile meanwhile; the token also catches a revision
 * number that repeats (an expired hash starts again from 0, a failover can lose a write).
 */
type WrittenProfiles = LRUCache<string, Written>;

/** Compactions a store runs at once beside its writes. */
const COMPACTIONS_IN_FLIGHT = 2;
/**
 * Pending events, in multiples of compactEvery, at which a write rewrites the document itself
 * instead of queueing it: the queue has fallen that far behind, and reads fold ever more events.
 */
const COMPACT_BEHIND = 2;

/**
 * Where a user's profile asks for its compaction: from half to one and a half times
 * compactEvery, by user id, so that users whose events came together are not all rewritten
 * together. Averages compactEvery.
 */
function compactionThreshold(userId: string, compactEvery: number): number {
  let h = 2166136261;
  for (let i = 0; i < userId.length; i++) h = Math.imul(h ^ userId.charCodeAt(i), 16777619);
  return Math.ceil(compactEvery / 2) + ((h >>> 0) % compactEvery);
}

/** Write tokens: a random prefix per process (no two processes share one) and a counter. */
const WRITER_ID = randomBytes(9).toString('base64url');
let writes = 0;

export class RedisProfileStore implements ProfileStore {
  /** Undefined when the cache is off. */
  private readonly written: WrittenProfiles | undefined;
  /** Users whose compaction is queued (compactLater), with the reducer to fold with. */
  private readonly compactions = new Map<string, FoldEvents>();
  private compactionsRunning = 0;
  private readonly idle: (() => void)[] = [];

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ProfileKeys,
    private readonly ttlMs: number,
    /** The ledger window: ids of applied events are kept this long. */
    private readonly ledgerTtlMs: number,
    /** Profiles kept in `written` (0: none). */
    writeCache = DEFAULT_WRITE_CACHE,
    private readonly maxAttempts = 100,
    /** And at most this many bytes of their stored documents (their decoded copies take several times that). */
    cacheBytes = DEFAULT_CACHE_MB * 2 ** 20,
    /** Events appended to a profile before its document is rewritten with them (1: every write rewrites it). */
    private readonly compactEvery = DEFAULT_COMPACT_EVERY,
  ) {
    redis.defineCommand('profileCas', { numberOfKeys: 3, lua: CAS_LUA });
    redis.defineCommand('profileAppend', { numberOfKeys: 3, lua: APPEND_LUA });
    redis.defineCommand('profileDelete', { numberOfKeys: 1, lua: DELETE_LUA });
    this.written = writeCache > 0 ? new LRUCache({ max: writeCache, maxSize: Math.max(1, cacheBytes), sizeCalculation: (w) => Math.max(1, w.bytes) }) : undefined;
  }

  /** The profile a remembered copy stands for: its base with the events appended since folded in. */
  private profileOf(w: Written, fold: FoldEvents): Profile {
    if (w.pending.length > 0) {
      w.base = fold(w.base, w.pending, false);
      w.folded += w.pending.length;
      w.pending = [];
    }
    return w.base;
  }

  /** The user's profile hash, whole. */
  private async readState(userId: string): Promise<StoredState> {
    return storedState(await this.redis.hgetallBuffer(this.keys.profile(userId)));
  }

  /** The profile a stored state stands for: its document with the events appended since folded in (null: neither). */
  private decode(state: StoredState, fold: FoldEvents): Profile | null {
    const doc = state.doc ? decodeProfile(state.doc) : null;
    return state.pending.length > 0 ? fold(doc, state.pending, true) : doc;
  }

  /**
   * A stored profile whose revision and write token are those of the copy in `written` (this
   * process wrote it, or read it before) is that copy, not decoded again: a change notice wakes
   * several readers of the same version (the audiences' rule document, live updates), and in one
   * process the updater has just written it. A decoded profile is kept there for the next read,
   * and for a write that builds on it (the compare-and-set checks the same revision and token).
   * Callers treat what they get as read-only, as the write path already does.
   */
  async getMany(userIds: readonly string[], fold: FoldEvents = defaultFold): Promise<(Profile | null)[]> {
    // The small fields first: a profile this process holds a copy of is read without its document.
    const heads = await Promise.all(userIds.map((id) => this.redis.hmgetBuffer(this.keys.profile(id), 'rev', 'tok', 'dt', 'pn', 'p')));
    return Promise.all(
      heads.map(async ([revBytes, tokBytes, dtBytes, pnBytes, lines], i) => {
        // Every write sets rev (a deletion keeps it): without it there is no profile.
        if (!revBytes) return null;
        const userId = userIds[i]!;
        const rev = revBytes.toString();
        const token = tokBytes?.toString();
        const known = this.written?.get(userId);
        if (known && rev === String(known.rev) && token === known.token) return this.profileOf(known, fold);
        const docToken = dtBytes?.toString();
        const appended = Number(pnBytes ?? 0);
        if (known && token !== undefined && docToken !== undefined && known.docToken === docToken && known.folded + known.pending.length <= appended && Number(rev) > known.rev) {
          // The same document, with events appended since this copy: parse and fold only those.
          const before = this.profileOf(known, fold);
          const fresh = pendingEvents(lines, known.folded);
          const profile = fresh.length > 0 ? fold(before, fresh, false) : before;
          // (Its size stays the document's: the pending lines are bounded, and counted anew at the next rewrite.)
          this.written?.set(userId, { rev: Number(rev), token, base: profile, pending: [], bytes: known.bytes, docToken, folded: known.folded + fresh.length });
          return profile;
        }
        // Whole, in one read: the document and the lines it goes with must be of one state.
        const state = await this.readState(userId);
        if (!state.doc && state.pending.length === 0) return null;
        const profile = this.decode(state, fold)!;
        const now = this.written?.get(userId);
        // Not over a newer copy (a write of this process that landed after this read).
        if (state.rev !== undefined && state.token !== undefined && !(now && now.rev > Number(state.rev))) {
          this.written?.set(userId, { rev: Number(state.rev), token: state.token, base: profile, pending: [], bytes: state.bytes, docToken: state.docToken, folded: state.pending.length });
        }
        return profile;
      }),
    );
  }

  apply(userId: string, events: readonly ProfileEvent[], fold: FoldEvents): Promise<Profile> {
    const keys = events.map(eventKey);
    return this.write(userId, keys, (current, applied, owned) => fold(current, applied ? events.filter((_, i) => !applied[i]) : events, owned), fold);
  }

  /**
   * The events, each at most once (the ledger), appended to the profile hash in one script call:
   * no read, no decode, no document written. The profile's document is rewritten with them
   * (compact) once about `compactEvery` have gathered, beside the writes (compactLater); until then
   * a reader folds them into what it decodes. Null when this store does not append (compactEvery 1) or the document predates
   * appends: the caller writes with `apply` then.
   */
  async append(userId: string, events: readonly ProfileEvent[], fold: FoldEvents): Promise<Appended | null> {
    if (this.compactEvery <= 1 || events.length === 0) return null;
    const token = `${WRITER_ID}:${(writes++).toString(36)}`;
    const json = events.map((e) => JSON.stringify(e));
    const result = await this.redis.profileAppend(
      this.keys.profile(userId),
      this.keys.alias(userId),
      this.keys.ledger(userId),
      String(this.ttlMs),
      token,
      String(Date.now()),
      String(this.ledgerTtlMs),
      String(events.length),
      ...events.map(eventKey),
      ...json,
    );
    if (result === -1) {
      this.written?.delete(userId);
      throw new AliasedProfileError(userId);
    }
    if (!Array.isArray(result)) return null;
    const [rev, version, pending, appended] = result;
    if (appended === 0) return { version, applied: 0 };
    const mine = this.written?.get(userId);
    if (mine && rev === mine.rev + 1 && appended === events.length) {
      // Only this write since the remembered copy: it stays good, with these events to fold.
      // (When the ledger held some of them, which is unknown here, it is dropped instead.)
      mine.rev = rev;
      mine.token = token;
      mine.pending.push(...events);
      mine.bytes += json.reduce((n, j) => n + j.length, 0);
    } else if (mine) {
      this.written?.delete(userId);
    }
    if (pending >= COMPACT_BEHIND * this.compactEvery) await this.compact(userId, fold);
    else if (pending >= compactionThreshold(userId, this.compactEvery)) this.compactLater(userId, fold);
    return { version, applied: appended };
  }

  /**
   * Queues a compaction: it runs beside the writes (COMPACTIONS_IN_FLIGHT at a time), not in the
   * write that asked for it, whose events are stored already. Profiles that gather events together
   * (a bulk load, a benchmark's burst) would otherwise all be rewritten in the same few seconds,
   * with every write of those seconds waiting behind its own rewrite. A user queued already is
   * compacted once, with the latest reducer given.
   */
  private compactLater(userId: string, fold: FoldEvents): void {
    this.compactions.set(userId, fold);
    this.startCompactions();
  }

  private startCompactions(): void {
    while (this.compactionsRunning < COMPACTIONS_IN_FLIGHT && this.compactions.size > 0) {
      const [userId, fold] = this.compactions.entries().next().value as [string, FoldEvents];
      this.compactions.delete(userId);
      this.compactionsRunning++;
      // A failed compaction leaves the events appended (a later write asks again): nothing to report.
      void this.compact(userId, fold)
        .catch(() => undefined)
        .finally(() => {
          this.compactionsRunning--;
          this.startCompactions();
          if (this.compactionsRunning === 0 && this.compactions.size === 0) for (const resolve of this.idle.splice(0)) resolve();
        });
    }
  }

  /** Resolves once no compaction is queued or running (tests and benchmarks read the stored hash then). */
  compactionsSettled(): Promise<void> {
    if (this.compactionsRunning === 0 && this.compactions.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * Rewrites the profile's document with the events appended since (a compare-and-set: when
   * another write comes first, the events stay appended and the next append tries again).
   */
  private async compact(userId: string, fold: FoldEvents): Promise<void> {
    const mine = this.written?.get(userId);
    if (mine) {
      const rev = mine.rev;
      if ((await this.cas(userId, String(rev), mine.token, this.profileOf(mine, fold), [])) > 0) return;
      // An append of this process came first (it asks again when due); otherwise the copy is stale.
      if (this.written?.get(userId)?.rev !== rev) return;
      this.written?.delete(userId);
    }
    const state = await this.readState(userId);
    if (state.pending.length === 0 || state.token === undefined) return;
    await this.cas(userId, state.rev ?? '0', state.token, this.decode(state, fold)!, []);
  }

  update(userId: string, fn: (current: Profile | null, owned: boolean) => Profile, inherit?: Ledger, once?: string, fold: FoldEvents = defaultFold): Promise<Profile> {
    return this.write(userId, [], (current, _applied, owned) => fn(current, owned), fold, inherit, once);
  }

  async forgetChange(userId: string, once: string): Promise<void> {
    await this.redis.hdel(this.keys.profile(userId), `m:${once}`);
  }

  async applied(userId: string, keys: readonly string[]): Promise<boolean[]> {
    if (keys.length === 0) return [];
    return (await this.redis.zmscore(this.keys.ledger(userId), ...keys)).map((score) => score !== null);
  }

  async ledger(userId: string): Promise<Ledger> {
    const flat = await this.redis.zrangebyscore(this.keys.ledger(userId), Date.now() - this.ledgerTtlMs, '+inf', 'WITHSCORES');
    const ledger = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) ledger.set(flat[i]!, Number(flat[i + 1]));
    return ledger;
  }

  /**
   * The write behind `apply` and `update`. `fn` gets, besides the profile, for each of `ids`
   * whether the ledger lists it (undefined on the remembered-copy path: the compare-and-set then
   * refuses the write if any of them is listed, and the write falls back to a fresh read).
   */
  private async write(
    userId: string,
    ids: readonly string[],
    fn: (current: Profile | null, applied: readonly boolean[] | undefined, owned: boolean) => Profile,
    /** Folds the events appended since the stored document into what is read. */
    fold: FoldEvents,
    inherit?: Ledger,
    once?: string,
  ): Promise<Profile> {
    const key = this.keys.profile(userId);
    const ledgerKey = this.keys.ledger(userId);
    // The profile as this process last wrote it: no read, one round trip when nobody else wrote.
    const mine = this.written?.get(userId);
    if (mine) {
      const remembered = this.profileOf(mine, fold);
      const next = fn(remembered, undefined, false);
      if (next !== remembered) {
        const written = await this.cas(userId, String(mine.rev), mine.token, next, ids, inherit, once);
        if (written > 0) return next;
      } else if (ids.length > 0 && !inherit?.size && !once && ids.every((k) => remembered.appliedEventIds[k] !== undefined)) {
        // The copy lists every event (the updater seeing a read-your-writes entry): applied, if
        // the stored profile is still that copy (a failover may have lost the write). The copy
        // then stays good for the next write.
        const [rev, tok] = await this.redis.hmget(key, 'rev', 'tok');
        if (rev === String(mine.rev) && tok === mine.token) return next;
      }
      this.written?.delete(userId);
    }
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const [state, scores] = await Promise.all([
        this.readState(userId),
        ids.length > 0 ? this.redis.zmscore(ledgerKey, ...ids) : Promise.resolve([] as (string | null)[]),
      ]);
      const done = once ? state.fields[`m:${once}`] : undefined;
      const applied = scores.map((score) => score !== null);
      const fresh = ids.filter((_, i) => !applied[i]);
      const current = this.decode(state, fold);
      const rev = state.rev;
      // The once-change was made already (a retried merge).
      if (done && current) return current;
      const before = current?.version;
      // Each attempt parses its own copy, so fn may change it in place.
      const next = fn(current, applied, true);
      // Nothing new to apply (a redelivered event), or nothing changed.
      if ((ids.length > 0 && fresh.length === 0) || (next === current && next.version === before && !inherit?.size && !once)) return next;
      // The script checks the ledger again: the two reads above are not one atomic step.
      const written = await this.cas(userId, rev ?? '0', '', next, fresh, inherit, once);
      if (written > 0) return next;
      // Another writer got there first: back off a little and re-apply on the fresh profile.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, 1 + attempt)));
    }
    throw new Error(`profile ${userId}: too much write contention`);
  }

  /**
   * Compare-and-set against `rev` (and, when the caller builds on its own earlier write rather
   * than a fresh read, that write's token), adding `applied` and `inherit` to the ledger. The new
   * revision, remembered with the profile, or 0 when another writer won or one of `applied` was
   * in the ledger already (or `once` was made).
   */
  private async cas(userId: string, rev: string, basedOn: string, next: Profile, applied: readonly string[], inherit?: Ledger, once?: string): Promise<number> {
    const token = `${WRITER_ID}:${(writes++).toString(36)}`;
    const inherited: string[] = [];
    for (const [id, at] of inherit ?? []) inherited.push(String(at), id);
    const doc = encodeProfile(next);
    const written = await this.redis.profileCas(
      this.keys.profile(userId),
      this.keys.alias(userId),
      this.keys.ledger(userId),
      rev,
      doc,
      String(this.ttlMs),
      basedOn,
      token,
      String(Date.now()),
      String(this.ledgerTtlMs),
      once ?? '',
      String(applied.length),
      ...applied,
      String(next.version),
      ...inherited,
    );
    if (written === -1) {
      this.written?.delete(userId);
      throw new AliasedProfileError(userId);
    }
    if (written > 0) this.written?.set(userId, { rev: written, token, base: next, pending: [], bytes: doc.length, docToken: token, folded: 0 });
    return Math.max(0, written);
  }

  async delete(userId: string): Promise<boolean> {
    this.written?.delete(userId);
    return (await this.redis.profileDelete(this.keys.profile(userId), String(TOMBSTONE_TTL_MS))) > 0;
  }

  async *scan(pageSize = 500, fold: FoldEvents = defaultFold): AsyncIterable<Profile[]> {
    for await (const keys of scanKeys(this.redis, this.keys.profilePattern(), pageSize)) {
      const page = await this.documents(keys, fold);
      if (page.length > 0) yield page;
    }
  }

  /** The profiles stored under these keys (keys deleted meanwhile left out). */
  private async documents(keys: readonly string[], fold: FoldEvents): Promise<Profile[]> {
    const states = await Promise.all(keys.map(async (k) => storedState(await this.redis.hgetallBuffer(k))));
    return states.flatMap((state) => this.decode(state, fold) ?? []);
  }

  /**
   * The cursor names the (cluster) node and its SCAN cursor: `<node index>:<scan cursor>`, the
   * index into the masters sorted by address, so it names the same node on every connection (the
   * client's own order follows the startup nodes it was given).
   */
  async page(cursor: string | null, limit: number, fold: FoldEvents = defaultFold): Promise<{ profiles: Profile[]; cursor: string | null }> {
    // A cluster client learns its masters once it is connected (before, it lists none).
    if (isCluster(this.redis) && this.redis.status !== 'ready') await this.redis.ping();
    const address = (n: { options: { host?: string | undefined; port?: number | undefined } }) => `${n.options.host}:${n.options.port}`;
    const nodes = scanTargets(this.redis).sort((a, b) => (address(a) < address(b) ? -1 : address(a) > address(b) ? 1 : 0));
    let [node, scan] = cursor === null ? [0, '0'] : parseScanCursor(cursor, nodes.length);
    const profiles: Profile[] = [];
    // Keep scanning while pages come back empty (a keyspace mostly of other keys), up to a budget.
    for (let rounds = 0; node < nodes.length && profiles.length === 0 && rounds < 50; rounds++) {
      // A user has several keys besides its profile (ledger, snapshot, memberships): scan a few
      // times the page so a page holds about `limit` profiles.
      const [next, keys] = await nodes[node]!.scan(scan, 'MATCH', this.keys.profilePattern(), 'COUNT', Math.max(10, 3 * limit));
      profiles.push(...(await this.documents(keys, fold)));
      if (next === '0') [node, scan] = [node + 1, '0'];
      else scan = next;
    }
    return { profiles, cursor: node < nodes.length ? `${node}:${scan}` : null };
  }

  /** Unknown without a full scan of the keyspace. */
  async count(): Promise<null> {
    return null;
  }
}

function parseScanCursor(cursor: string, nodes: number): [number, string] {
  const m = /^(\d{1,4}):(\d{1,20})$/.exec(cursor);
  if (!m || Number(m[1]) >= nodes) throw new RangeError('invalid cursor');
  return [Number(m[1]), m[2]!];
}

/**
 * Computed-trait definitions in one hash (so a change and its version move together): a field
 * per name, and `#version` counting the changes.
 */
export class RedisTraitDefinitionStore implements TraitDefinitionStore {
  private readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.key = `${prefix}traits:definitions`;
  }

  async list() {
    const all = await this.redis.hgetall(this.key);
    const definitions = Object.entries(all)
      .filter(([field]) => field !== '#version')
      .map(([, doc]) => JSON.parse(doc) as StoredTraitDefinition)
      .sort((a, b) => a.createdAt - b.createdAt || (a.name < b.name ? -1 : 1));
    return { version: Number(all['#version'] ?? 0), definitions };
  }

  async version(): Promise<number> {
    return Number((await this.redis.hget(this.key, '#version')) ?? 0);
  }

  async putIfAbsent(definition: StoredTraitDefinition): Promise<StoredTraitDefinition> {
    const created = await this.redis.hsetnx(this.key, definition.name, JSON.stringify(definition));
    if (created === 1) {
      await this.redis.hincrby(this.key, '#version', 1);
      return definition;
    }
    const existing = await this.redis.hget(this.key, definition.name);
    return existing ? (JSON.parse(existing) as StoredTraitDefinition) : this.putIfAbsent(definition);
  }

  async delete(name: string): Promise<boolean> {
    const removed = await this.redis.hdel(this.key, name);
    if (removed > 0) await this.redis.hincrby(this.key, '#version', 1);
    return removed > 0;
  }
}

export class RedisSnapshotStore implements SnapshotStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ProfileKeys,
    private readonly ttlMs: number,
  ) {}

  async putMany(snapshots: readonly ProfileSnapshot[]): Promise<void> {
    await Promise.all(
      snapshots.map((s) =>
        this.ttlMs > 0
          ? this.redis.set(this.keys.snapshot(s.userId), JSON.stringify(s), 'PX', this.ttlMs)
          : this.redis.set(this.keys.snapshot(s.userId), JSON.stringify(s)),
      ),
    );
  }

  async getMany(userIds: readonly string[]): Promise<(ProfileSnapshot | null)[]> {
    const docs = await Promise.all(userIds.map((id) => this.redis.get(this.keys.snapshot(id))));
    return docs.map((d) => (d ? (JSON.parse(d) as ProfileSnapshot) : null));
  }

  async delete(userId: string): Promise<void> {
    await this.redis.del(this.keys.snapshot(userId));
  }
}

/**
 * Aliases are rare and lookups are per event, so lookups are cached in process while the alias
 * epoch (bumped by every link and forget) stays the same: one GET per batch instead of one per user.
 */
export class RedisIdentityStore implements IdentityStore {
  private cache = new Map<string, string | null>();
  private cachedEpoch: string | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ProfileKeys,
    private readonly maxCached = 200_000,
  ) {}

  async resolve(ids: readonly string[], options: { fresh?: boolean } = {}): Promise<string[]> {
    // `fresh`: these ids are read again whatever is cached (a write under one was just refused).
    if (options.fresh) for (const id of ids) this.cache.delete(id);
    const missing = ids.filter((id) => !this.cache.has(id));
    let epoch: string | null;
    let targets: (string | null)[];
    if (isCluster(this.redis)) {
      // The epoch and the aliases live on different nodes, with no order between the reads: read
      // the epoch first, so an alias read after it is at least as new as the epoch it is cached under.
      epoch = await this.redis.get(this.keys.aliasEpoch());
      targets = await Promise.all(missing.map((id) => this.redis.get(this.keys.alias(id))));
    } else {
      // One Redis runs one connection's commands in order: both in one round trip.
      [epoch, ...targets] = await Promise.all([this.redis.get(this.keys.aliasEpoch()), ...missing.map((id) => this.redis.get(this.keys.alias(id)))]);
    }
    if ((epoch ?? '0') !== this.cachedEpoch || this.cache.size > this.maxCached) {
      // A moved epoch drops the cache; what was cached is then read again.
      this.cache = new Map();
      this.cachedEpoch = epoch ?? '0';
    }
    missing.forEach((id, i) => this.cache.set(id, targets[i] ?? null));
    const dropped = ids.filter((id) => !this.cache.has(id));
    if (dropped.length > 0) {
      const again = await Promise.all(dropped.map((id) => this.redis.get(this.keys.alias(id))));
      dropped.forEach((id, i) => this.cache.set(id, again[i] ?? null));
    }
    return ids.map((id) => this.cache.get(id) ?? id);
  }

  /**
   * Without a round trip unless this process knows one of the ids as an alias: an id it knows as
   * unaliased, or has not seen, is written under itself, and the profile compare-and-set refuses
   * the write if the id is an alias (the writer then calls resolve). A known alias is resolved
   * with the epoch check, since `forget` may have removed it.
   */
  async resolveForWrite(ids: readonly string[]): Promise<string[]> {
    if (ids.every((id) => !this.cache.get(id))) return [...ids];
    return this.resolve(ids);
  }

  /**
   * The claim (SET NX of the alias) decides who the anonymous id belongs to. Recording it under
   * the user (for forget) and moving the epoch (other processes drop their caches) follow; the
   * three keys live in different slots of a cluster, so no one script can do all of it. A link
   * that died after its claim is completed when it is retried (alias is idempotent): a claim
   * already held by the same user finishes the two steps again, which repeat harmlessly.
   */
  async link(anonymousId: string, userId: string): Promise<string> {
    const created = await this.redis.set(this.keys.alias(anonymousId), userId, 'NX');
    const owner = created === 'OK' ? userId : ((await this.redis.get(this.keys.alias(anonymousId))) ?? userId);
    if (owner !== userId) return owner;
    // A repeated alias of a complete link changes nothing, and moves no epoch (every process would
    // drop its alias cache). (A link that died between SADD and INCR leaves other processes'
    // caches stale for the anonymous id until the next epoch move; a write under it is still
    // refused by the profile compare-and-set.)
    const added = await this.redis.sadd(this.keys.aliasesOf(userId), anonymousId);
    if (created === 'OK' || added === 1) await this.redis.incr(this.keys.aliasEpoch());
    return userId;
  }

  async forget(userId: string): Promise<void> {
    const anonymous = await this.redis.smembers(this.keys.aliasesOf(userId));
    await Promise.all([
      ...anonymous.map((a) => this.redis.del(this.keys.alias(a))),
      this.redis.del(this.keys.aliasesOf(userId)),
      this.redis.del(this.keys.alias(userId)),
    ]);
    await this.redis.incr(this.keys.aliasEpoch());
  }
}

export interface RedisProfileStoreOptions {
  prefix: string;
  profileTtlMs: number;
  /** The ledger window: a redelivery within it is not applied again (DEDUPE_TTL). */
  dedupeTtlMs: number;
  /** Profiles each process remembers as it wrote or read them, to skip the read before a write and the decode of a read (default DEFAULT_WRITE_CACHE; 0: off). */
  writeCache?: number;
  /** And at most this many bytes of their stored documents (default DEFAULT_CACHE_MB MiB). */
  cacheBytes?: number;
  /** Events appended to a profile before its document is rewritten (default DEFAULT_COMPACT_EVERY; 1: every write rewrites it). */
  compactEvery?: number;
}

/** For readers without a reducer of their own: the default configuration's (no computed traits). */
const defaultFold: FoldEvents = (current, events, owned) => applyEvents(current, events, DEFAULT_REDUCER_CONFIG, owned).profile;

export function createRedisProfileStores(redis: RedisClient, options: RedisProfileStoreOptions, ownsConnection = false): ProfileStores {
  const keys = new ProfileKeys(options.prefix);
  return closable({
    profiles: new RedisProfileStore(redis, keys, options.profileTtlMs, options.dedupeTtlMs, options.writeCache, undefined, options.cacheBytes, options.compactEvery),
    snapshots: new RedisSnapshotStore(redis, keys, options.profileTtlMs),
    identities: new RedisIdentityStore(redis, keys),
    traitDefinitions: new RedisTraitDefinitionStore(redis, options.prefix),
    close: async () => {
      if (ownsConnection) await redis.quit();
    },
  });
}
