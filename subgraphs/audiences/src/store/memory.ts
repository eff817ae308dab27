/** Embedded in-memory adapters of the audiences stores (the default: nothing to install). */
import TinyQueue from 'tinyqueue';
import { closable } from '../../../../lib/dispose.js';
import type { Destination } from '../app/destinations.js';
import type { Audience } from '../domain/audience.js';
import { MemoryDeliveryStatusStore } from './destination-status.js';
import type { AudienceStore, AudienceStores, DestinationStore, DueStore, Membership, MembershipDecision, MembershipStore, MembershipTransition, UnsentTransition, UserMemberships } from './ports.js';

const copy = <T>(v: T): T => structuredClone(v);

export class MemoryAudienceStore implements AudienceStore {
  private readonly audiences = new Map<string, Audience>();
  private readonly leases = new Map<string, { holder: string; until: number }>();
  private changes = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async get(ids: readonly string[]) {
    return ids.map((id) => {
      const a = this.audiences.get(id);
      return a ? copy(a) : null;
    });
  }
  async list() {
    return [...this.audiences.values()].map(copy);
  }
  async create(audience: Audience) {
    if (this.audiences.has(audience.id)) return false;
    this.audiences.set(audience.id, copy(audience));
    this.changes++;
    return true;
  }
  async replace(audience: Audience, expectedRevision: number) {
    const current = this.audiences.get(audience.id);
    if (!current || current.revision !== expectedRevision) return false;
    this.audiences.set(audience.id, copy(audience));
    this.changes++;
    return true;
  }
  async delete(id: string) {
    const existed = this.audiences.delete(id);
    if (existed) this.changes++;
    return existed;
  }
  async version() {
    return this.changes;
  }
  async lease(audienceId: string, holder: string, ttlMs: number) {
    const l = this.leases.get(audienceId);
    if (l && l.holder !== holder && l.until > this.now()) return false;
    this.leases.set(audienceId, { holder, until: this.now() + ttlMs });
    return true;
  }
  async release(audienceId: string, holder: string) {
    if (this.leases.get(audienceId)?.holder === holder) this.leases.delete(audienceId);
  }
}

interface UserRecord {
  /** The newest profile version decided on. */
  version: number;
  /** audience → since. */
  members: Map<string, number>;
  /** audience → transitions so far. */
  seq: Map<string, number>;
  /** `<seq>:<audience>` → the transition, until acknowledged (in apply order). */
  unsent: Map<string, UnsentTransition>;
}

const unsentKey = (t: MembershipTransition) => `${t.seq}:${t.audienceId}`;

export class MemoryMembershipStore implements MembershipStore {
  private readonly users = new Map<string, UserRecord>();
  /** audience → user → since (insertion order is not entry order after re-entries: sorted on read). */
  private readonly index = new Map<string, Map<string, number>>();

  /** Every decision is looked at (`basis` saves nothing in memory). */
  async apply(userId: string, profileVersion: number | null, at: number, decisions: readonly MembershipDecision[], tag = ''): Promise<MembershipTransition[]> {
    let user = this.users.get(userId);
    if (user && profileVersion !== null && profileVersion < user.version) return [];
    if (!user) this.users.set(userId, (user = { version: -1, members: new Map(), seq: new Map(), unsent: new Map() }));
    if (profileVersion !== null) user.version = Math.max(user.version, profileVersion);
    const out: MembershipTransition[] = [];
    for (const d of decisions) {
      if (d.member === user.members.has(d.audienceId)) continue;
      const seq = (user.seq.get(d.audienceId) ?? 0) + 1;
      user.seq.set(d.audienceId, seq);
      if (d.member) {
        user.members.set(d.audienceId, at);
        let members = this.index.get(d.audienceId);
        if (!members) this.index.set(d.audienceId, (members = new Map()));
        members.set(userId, at);
      } else {
        user.members.delete(d.audienceId);
        this.index.get(d.audienceId)?.delete(userId);
      }
      const t = { audienceId: d.audienceId, entered: d.member, seq };
      user.unsent.set(unsentKey(t), { ...t, at, profileVersion, tag });
      out.push(t);
    }
    return out;
  }

  /** No `reindex` here: apply writes the record and the index together, so the index never falls behind. */
  async acknowledge(userId: string, transitions: readonly MembershipTransition[]) {
    const user = this.users.get(userId);
    if (!user) return;
    for (const t of transitions) user.unsent.delete(unsentKey(t));
  }

  async of(userId: string): Promise<Membership[]> {
    const user = this.users.get(userId);
    return user ? [...user.members].map(([audienceId, since]) => ({ audienceId, since })) : [];
  }
  async ofMany(userIds: readonly string[]) {
    return Promise.all(userIds.map((id) => this.of(id)));
  }
  async read(userIds: readonly string[]): Promise<UserMemberships[]> {
    return Promise.all(
      userIds.map(async (id) => {
        const user = this.users.get(id);
        // The generation: transitions so far, of every audience.
        const generation = [...(user?.seq.values() ?? [])].reduce((a, n) => a + n, 0);
        return { memberships: await this.of(id), unsent: [...(user?.unsent.values() ?? [])].map(copy), generation };
      }),
    );
  }

  async members(audienceId: string, first: number, cursor: string | null) {
    const all = [...(this.index.get(audienceId) ?? new Map<string, number>())].sort(([a, sa], [b, sb]) => sa - sb || (a < b ? -1 : a > b ? 1 : 0));
    const after = cursor === null ? null : parseMemberCursor(cursor);
    const start = after === null ? 0 : all.findIndex(([id, since]) => since > after.since || (since === after.since && id > after.userId));
    const page = start === -1 ? [] : all.slice(start, start + first);
    const more = start !== -1 && start + first < all.length;
    const last = page[page.length - 1];
    return { members: page.map(([userId, since]) => ({ userId, since })), cursor: more && last ? memberCursor(last[1], last[0]) : null };
  }

  async size(audienceIds: readonly string[]) {
    return audienceIds.map((id) => this.index.get(id)?.size ?? 0);
  }

  async forgetUser(userId: string, at: number, tag = '') {
    const user = this.users.get(userId);
    if (!user) return [];
    const exits = await this.apply(userId, null, at, [...user.members.keys()].map((audienceId) => ({ audienceId, member: false })), tag);
    // The version restarts with the profile; the transition counters stay, so ids never repeat.
    user.version = -1;
    return exits;
  }

  async dropAudience(audienceId: string) {
    this.index.delete(audienceId);
  }
}

/** Member cursors: entry time and id, the order members are listed in. */
export const memberCursor = (since: number, userId: string): string => Buffer.from(JSON.stringify([since, userId])).toString('base64url');
export function parseMemberCursor(cursor: string): { since: number; userId: string } {
  try {
    const [since, userId] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [unknown, unknown];
    if (typeof since === 'number' && typeof userId === 'string') return { since, userId };
  } catch {
    // fall through
  }
  throw new RangeError('invalid cursor');
}

/** A heap of due times with lazy deletion: the entry map says which heap entries are current. */
export class MemoryDueStore implements DueStore {
  private readonly due = new Map<string, number>();
  private heap = new TinyQueue<{ key: string; at: number }>([], (a, b) => a.at - b.at);

  async schedule(entries: readonly { audienceId: string; userId: string; at: number | null }[]) {
    for (const e of entries) {
      const key = dueKey(e.audienceId, e.userId);
      if (e.at === null) this.due.delete(key);
      else {
        this.due.set(key, e.at);
        this.heap.push({ key, at: e.at });
      }
    }
    // Moved pairs leave their old entries behind: rebuild once those outnumber the live ones.
    if (this.heap.length > 2 * this.due.size + 1024) {
      this.heap = new TinyQueue([...this.due].map(([key, at]) => ({ key, at })), (a, b) => a.at - b.at);
    }
  }

  async claim(now: number, limit: number, leaseMs: number) {
    const out: { audienceId: string; userId: string; at: number }[] = [];
    while (out.length < limit && this.heap.length > 0 && this.heap.peek()!.at <= now) {
      const top = this.heap.pop()!;
      if (this.due.get(top.key) !== top.at) continue; // moved or removed since
      const [audienceId, userId] = splitDueKey(top.key);
      out.push({ audienceId, userId, at: top.at });
      this.due.set(top.key, now + leaseMs);
      this.heap.push({ key: top.key, at: now + leaseMs });
    }
    return out;
  }

  async next() {
    while (this.heap.length > 0 && this.due.get(this.heap.peek()!.key) !== this.heap.peek()!.at) this.heap.pop();
    return this.heap.peek()?.at ?? null;
  }

  async dropAudience(audienceId: string) {
    for (const key of this.due.keys()) if (splitDueKey(key)[0] === audienceId) this.due.delete(key);
  }


}

export const dueKey = (audienceId: string, userId: string) => `${audienceId}\u0000${userId}`;
export function splitDueKey(key: string): [string, string] {
  const at = key.indexOf('\u0000');
  return [key.slice(0, at), key.slice(at + 1)];
}

export class MemoryDestinationStore implements DestinationStore {
  private readonly destinations = new Map<string, Destination>();
  async list() {
    return [...this.destinations.values()];
  }
  async put(d: Destination) {
    this.destinations.set(d.id, { ...d });
  }
  async delete(id: string) {
    const d = this.destinations.get(id) ?? null;
    this.destinations.delete(id);
    return d;
  }
}

export function createMemoryAudienceStores(): AudienceStores {
  return closable({
    audiences: new MemoryAudienceStore(),
    memberships: new MemoryMembershipStore(),
    due: new MemoryDueStore(),
    destinations: new MemoryDestinationStore(),
    deliveryStatus: new MemoryDeliveryStatusStore(),
    close: async () => {},
  });
}
