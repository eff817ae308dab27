/**
 * Use cases of the audiences subgraph: managing audiences, and keeping membership exact in real
 * time. Three paths decide membership, all through the same evaluation (evaluateUsers):
 * - profile changes: the change-notice log of the profile (a consumer group of our own, so a
 *   restart resumes where it stopped) → only the audiences whose rules read what changed, plus
 *   the audiences that depend on those;
 * - time: each evaluation of a time-dependent rule schedules the moment its truth can next change
 *   with no event (rules.ts nextChangeAt) in the due store; a timer takes what is due (no scan);
 * - backfill: a new or edited audience is evaluated over every stored profile, page by page
 *   through the graph, while the other two paths already count.
 * Profiles are read through the graph (profile-source.ts) at the moment of evaluation; the
 * membership store applies one user's decisions atomically and ignores decisions read from an
 * older profile than the newest already decided on.
 */
import { randomUUID } from 'node:crypto';
import type { AudienceChange, MembershipReason } from '../../../../lib/contracts/audience.js';
import { CodedError } from '../../../../lib/contracts/errors.js';
import type { EventLog } from '../../../../lib/eventlog/port.js';
import type { ProfileUpdated } from '../../../../lib/pubsub/port.js';
import type { PubSub } from '../../../../lib/pubsub/port.js';
import { KeyedQueue } from '../../../../lib/keyed-queue.js';
import { userKey } from '../../../../lib/redis/connection.js';
import { checkAudienceId, checkDescription, checkName, freshBackfill } from '../domain/audience.js';
import type { Audience } from '../domain/audience.js';
import { compileRule, evaluateRule, nextChangeAt } from '../domain/rules.js';
import type { CompiledRule, ProfileView } from '../domain/rules.js';
import type { AudienceStores, MembershipDecision, MembershipTransition, UnsentTransition, UserMemberships } from '../store/ports.js';
import type { ProfileSource } from './profile-source.js';

/** Consumer group of the audiences subgraph on the profile's change-notice log. */
export const AUDIENCES_GROUP = 'audiences';

/** A membership change on pub/sub: once under the audience's topic and once under the user's. */
export interface AudienceChangeMessage extends AudienceChange {
  topic: string;
}
export const audienceTopic = (audienceId: string) => `a:${audienceId}`;
export const userTopic = (userId: string) => `u:${userId}`;
/** Redis channels of the topics: an audience's in the audience's slot, a user's in the user's. */
export const audienceChannel = (prefix: string, topic: string): string =>
  topic.startsWith('u:') ? userKey(prefix, topic.slice(2), 'aud-changes') : `${prefix}aud:{a:${topic.slice(2)}}:changes`;

export interface AudienceServiceOptions {
  /** Profiles read per entity fetch and per backfill page. */
  pageSize: number;
  /** How often the due store is polled for pairs other replicas scheduled (ms). */
  duePollMs: number;
  /** How long a claimed due pair or a backfill lease is held before another replica may take it. */
  leaseMs: number;
  /** How old the set of audiences an evaluation uses may be (ms). */
  refreshMs: number;
  /** At most this many audiences. */
  maxAudiences: number;
  /** Notice batches arriving within this long of each other are evaluated together (0: each alone). */
  coalesceMs: number;
  /**
   * Pages of users evaluated at the same time. Users waiting for a slot wait together: the
   * notices a user gets meanwhile are folded into its one next evaluation (see evaluateUsers).
   */
  evaluationConcurrency: number;
  now?: () => number;
  onError?: (err: unknown) => void;
  /** Told of every evaluation and transition (metrics). */
  observe?: { evaluated(users: number, reason: MembershipReason): void; changed(change: AudienceChange): void };
}

export const DEFAULT_AUDIENCE_OPTIONS: AudienceServiceOptions = {
  pageSize: 500,
  duePollMs: 250,
  leaseMs: 30_000,
  refreshMs: 1000,
  maxAudiences: 1000,
  coalesceMs: 5,
  evaluationConcurrency: 16,
};

/** A user waiting for its next evaluation: the audiences to evaluate, and who waits for it. */
interface Waiting {
  userId: string;
  reason: MembershipReason;
  audiences: Set<string>;
  settle: { resolve: () => void; reject: (err: unknown) => void }[];
}

interface Live {
  audience: Audience;
  rule: CompiledRule;
}

export interface AudienceInput {
  id: string;
  name: string;
  description?: string | null;
  rule: unknown;
}

export class AudienceService {
  private live = new Map<string, Live>();
  /** Audiences in an order where every audience comes after those its rule reads. */
  private order: Live[] = [];
  /** Audience → audiences whose rules read its membership. */
  private dependents = new Map<string, Set<string>>();
  /** Profile field (as ProfileUpdated.changed names it) → the audiences whose rules read it. */
  private byField = new Map<string, Set<string>>();
  private traitNames: string[] = [];
  private version = -1;
  private checkedAt = -Infinity;
  private refreshing: Promise<void> | null = null;
  private readonly users = new KeyedQueue();
  private readonly holder = randomUUID();
  private readonly backfills = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private wakeAt = Infinity;
  private ticking: Promise<void> | null = null;
  private resumedAt = -Infinity;
  /** Users whose evaluation has not read their profile yet, by reason and user, oldest first. */
  private readonly waiting = new Map<string, Waiting>();
  /** Users whose evaluation is under way (read, decided, written), with their page's run. */
  private readonly evaluating = new Map<string, Promise<void> | null>();
  private pagesRunning = 0;
  /** The changes of this turn of the event loop, and when they will have been written (emit). */
  private emitting: { batch: AudienceChange[]; written: Promise<void> } | null = null;
  private pendingNotices: ProfileUpdated[] = [];
  private pendingFlush: Promise<void> | null = null;
  private flushNow: (() => void) | null = null;
  private stopped = false;
  private readonly now: () => number;
  private readonly onError: (err: unknown) => void;

  constructor(
    private readonly stores: AudienceStores,
    private readonly source: ProfileSource,
    private readonly outputs: { changes: EventLog<AudienceChange>; pubsub: PubSub<AudienceChangeMessage> },
    private readonly options: AudienceServiceOptions = DEFAULT_AUDIENCE_OPTIONS,
  ) {
    this.now = options.now ?? Date.now;
    this.onError = options.onError ?? ((err) => console.error('audiences:', err));
  }

  // --- the set of audiences -------------------------------------------------------------

  /** Resolves once the audiences in use are at most refreshMs old. */
  fresh(): Promise<void> {
    if (this.now() - this.checkedAt < this.options.refreshMs) return Promise.resolve();
    return (this.refreshing ??= this.check().finally(() => (this.refreshing = null)));
  }

  private async check(): Promise<void> {
    const version = await this.stores.audiences.version();
    if (version !== this.version) await this.reload(version);
    this.checkedAt = this.now();
  }

  private async reload(version?: number): Promise<void> {
    const v = version ?? (await this.stores.audiences.version());
    const audiences = await this.stores.audiences.list();
    const live = new Map<string, Live>();
    for (const audience of audiences) {
      try {
        live.set(audience.id, { audience, rule: compileRule(audience.rule) });
      } catch (err) {
        this.onError(err); // stored rules were valid when stored; a newer language may refuse one
      }
    }
    this.live = live;
    this.order = topological(live);
    this.dependents = new Map();
    for (const l of live.values()) {
      for (const ref of l.rule.audiences) {
        let set = this.dependents.get(ref);
        if (!set) this.dependents.set(ref, (set = new Set()));
        set.add(l.audience.id);
      }
    }
    this.traitNames = [...new Set([...live.values()].flatMap((l) => l.rule.traitNames))];
    this.byField = new Map();
    for (const l of live.values()) {
      for (const field of l.rule.reads) {
        let set = this.byField.get(field);
        if (!set) this.byField.set(field, (set = new Set()));
        set.add(l.audience.id);
      }
    }
    this.version = v;
  }

  async get(ids: readonly string[]): Promise<(Audience | null)[]> {
    return this.stores.audiences.get(ids);
  }

  async list(): Promise<Audience[]> {
    return this.stores.audiences.list();
  }

  /** Compiles a rule and checks what it refers to: audiences that exist, without cycles; computed traits that are defined. */
  private async compile(id: string, rule: unknown): Promise<CompiledRule> {
    const compiled = compileRule(rule);
    await this.reload();
    for (const ref of compiled.audiences) {
      if (ref === id) throw new CodedError('AUDIENCE_CYCLE', `the rule of ${id} refers to ${id} itself`);
      if (!this.live.has(ref)) throw new CodedError('AUDIENCE_NOT_FOUND', `the rule refers to audience ${ref}, which does not exist`);
      const path = cyclePath(ref, id, this.live);
      if (path) throw new CodedError('AUDIENCE_CYCLE', `the rule would make a cycle: ${[id, ...path].join(' → ')}`);
    }
    const inline = new Set(compiled.inlineTraits.map((d) => d.name));
    const named = compiled.traitNames.filter((n) => !inline.has(n));
    if (named.length > 0) {
      const defined = await this.source.definedTraits();
      const missing = named.filter((n) => !defined.has(n));
      if (missing.length > 0) throw new CodedError('COMPUTED_TRAIT_NOT_FOUND', `no computed trait is defined as ${missing.join(', ')} (defineComputedTrait on the profile)`);
    }
    return compiled;
  }

  async create(input: AudienceInput): Promise<Audience> {
    const id = checkAudienceId(input.id);
    const name = checkName(input.name);
    const description = checkDescription(input.description);
    const rule = await this.compile(id, input.rule);
    if (this.live.size >= this.options.maxAudiences) throw new CodedError('AUDIENCE_LIMIT', `at most ${this.options.maxAudiences} audiences`);
    await this.source.ensureTraits(rule.inlineTraits);
    const now = this.now();
    const audience: Audience = { id, name, description, rule: rule.source, status: 'BUILDING', revision: 1, backfill: freshBackfill(now), createdAt: now, updatedAt: now };
    if (!(await this.stores.audiences.create(audience))) throw new CodedError('AUDIENCE_EXISTS', `an audience ${id} exists already`);
    await this.reload();
    this.startBackfill(id);
    return audience;
  }

  async update(id: string, input: { name?: string | null; description?: string | null; rule?: unknown }): Promise<Audience> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const [current] = await this.stores.audiences.get([id]);
      if (!current) throw new CodedError('AUDIENCE_NOT_FOUND', `no audience ${id}`);
      const ruleChanged = input.rule != null && JSON.stringify(input.rule) !== JSON.stringify(current.rule);
      const rule = ruleChanged ? await this.compile(id, input.rule) : null;
      if (rule) await this.source.ensureTraits(rule.inlineTraits);
      const now = this.now();
      const next: Audience = {
        ...current,
        name: input.name != null ? checkName(input.name) : current.name,
        description: input.description !== undefined ? checkDescription(input.description) : current.description,
        ...(rule ? { rule: rule.source, status: 'BUILDING' as const, backfill: freshBackfill(now) } : {}),
        revision: current.revision + 1,
        updatedAt: now,
      };
      if (await this.stores.audiences.replace(next, current.revision)) {
        await this.reload();
        if (rule) this.startBackfill(id);
        return next;
      }
    }
    throw new CodedError('AUDIENCE_CONFLICT', `audience ${id} is being changed concurrently; retry`, { retryable: true });
  }

  async delete(id: string): Promise<boolean> {
    await this.reload();
    const dependents = [...(this.dependents.get(id) ?? [])];
    if (dependents.length > 0) throw new CodedError('AUDIENCE_IN_USE', `audiences ${dependents.join(', ')} refer to ${id}; change them first`);
    if (!(await this.stores.audiences.delete(id))) return false;
    await this.reload();
    // Every member exits (an event each, for destinations and subscribers), page by page.
    for (let cursor: string | null = null; ; ) {
      const page: Awaited<ReturnType<AudienceStores['memberships']['members']>> = await this.stores.memberships.members(id, 500, cursor);
      await Promise.all(page.members.map((m) => this.decide(m.userId, null, [{ audienceId: id, member: false }], 'AUDIENCE_CHANGED', 0)));
      if (page.cursor === null) break;
      cursor = page.cursor;
    }
    await Promise.all([this.stores.memberships.dropAudience(id), this.stores.due.dropAudience(id)]);
    for (const d of await this.stores.destinations.list()) if (d.audienceId === id) await this.stores.destinations.delete(d.id);
    return true;
  }

  // --- reads ----------------------------------------------------------------------------

  async membershipsOf(userIds: readonly string[]) {
    await this.fresh();
    const all = await this.stores.memberships.ofMany(userIds);
    return all.map((ms) => ms.filter((m) => this.live.has(m.audienceId)).map((m) => ({ audience: this.live.get(m.audienceId)!.audience, since: m.since })));
  }

  async members(audienceId: string, first: number, after: string | null) {
    if (!Number.isInteger(first) || first < 0 || first > 500) throw new CodedError('BAD_USER_INPUT', 'first must be between 0 and 500');
    try {
      return await this.stores.memberships.members(audienceId, first, after);
    } catch (err) {
      if (err instanceof RangeError) throw new CodedError('BAD_USER_INPUT', 'after is not a cursor this connection returned');
      throw err;
    }
  }

  sizes(ids: readonly string[]): Promise<number[]> {
    return this.stores.memberships.size(ids);
  }

  /**
   * Evaluates a rule over up to `sampleSize` stored profiles, without storing anything: matched
   * share × stored profiles is the estimate (exact when every profile was evaluated).
   */
  async preview(rule: unknown, sampleSize: number) {
    if (!Number.isInteger(sampleSize) || sampleSize < 1 || sampleSize > 100_000) throw new CodedError('BAD_USER_INPUT', 'sampleSize must be between 1 and 100000');
    const compiled = await this.compile('', rule);
    let sampled = 0;
    let total: number | null = null;
    let exhausted = false;
    const matched: string[] = [];
    for (let cursor: string | null = null; sampled < sampleSize; ) {
      const page: Awaited<ReturnType<ProfileSource['page']>> = await this.source.page(cursor, Math.min(this.options.pageSize, sampleSize - sampled), compiled.traitNames);
      total = page.total;
      const memberships = await this.stores.memberships.ofMany(page.views.map((v) => v.userId));
      const now = this.now();
      page.views.forEach((view, i) => {
        const member = new Set(memberships[i]!.map((m) => m.audienceId));
        if (evaluateRule(compiled, view, now, { isMember: (a) => member.has(a) })) matched.push(view.userId);
      });
      sampled += page.views.length;
      if (page.cursor === null) {
        exhausted = true;
        break;
      }
      cursor = page.cursor;
    }
    const estimatedSize = exhausted ? matched.length : total !== null && sampled > 0 ? Math.round((matched.length / sampled) * total) : null;
    return { estimatedSize, exact: exhausted, sampled, matched: matched.length, sample: matched.slice(0, 20).map((id) => ({ id })) };
  }

  // --- real time ------------------------------------------------------------------------

  /**
   * The consumer of the profile's change notices. Batches that arrive within `coalesceMs` of each
   * other (the log hands several partitions' batches over at once) are evaluated together: one
   * profile fetch through the graph serves all their users, which costs a fraction per user of a
   * fetch for two or three. Each caller's promise settles with the evaluation that included its
   * notices (a failure fails them all, and the log delivers them again).
   */
  handleNotices(notices: readonly ProfileUpdated[]): Promise<void> {
    if (this.options.coalesceMs <= 0) return this.processNotices(notices);
    this.pendingNotices.push(...notices);
    if (!this.pendingFlush) {
      let start!: () => void;
      const due = new Promise<void>((resolve) => (start = resolve));
      const timer = setTimeout(start, this.options.coalesceMs);
      timer.unref();
      this.flushNow = () => {
        clearTimeout(timer);
        start();
      };
      this.pendingFlush = due.then(() => {
        const batch = this.pendingNotices;
        this.pendingNotices = [];
        this.pendingFlush = null;
        this.flushNow = null;
        return this.processNotices(batch);
      });
    }
    // A full page of users need not wait.
    if (this.pendingNotices.length >= this.options.pageSize) this.flushNow?.();
    return this.pendingFlush;
  }

  private async processNotices(notices: readonly ProfileUpdated[]): Promise<void> {
    await this.fresh();
    const changed = new Map<string, Set<string> | 'all'>();
    const deleted: string[] = [];
    for (const n of notices) {
      if (n.cause === 'delete') {
        deleted.push(n.userId);
        changed.delete(n.userId);
        continue;
      }
      const prev = changed.get(n.userId);
      if (n.cause === 'alias' || prev === 'all') changed.set(n.userId, 'all');
      else changed.set(n.userId, new Set([...(prev ?? []), ...n.changed]));
    }
    await Promise.all(deleted.map((id) => this.forget(id)));
    const byUser = new Map<string, Set<string>>();
    for (const [userId, fields] of changed) {
      const audiences = this.affected(fields);
      if (audiences.size > 0) byUser.set(userId, audiences);
    }
    await this.evaluateUsers(byUser, 'PROFILE_CHANGED');
  }

  /** Audiences whose rules read any of the fields, and those that depend on them. */
  private affected(fields: Set<string> | 'all'): Set<string> {
    if (fields === 'all') return new Set(this.live.keys());
    const out = new Set<string>();
    for (const f of fields) for (const id of this.byField.get(f) ?? []) out.add(id);
    return this.withDependents(out);
  }

  /** The audiences and every audience whose rule reads one of them, transitively. */
  private withDependents(audiences: Iterable<string>): Set<string> {
    const out = new Set(audiences);
    const stack = [...out];
    while (stack.length > 0) {
      for (const d of this.dependents.get(stack.pop()!) ?? []) {
        if (!out.has(d)) {
          out.add(d);
          stack.push(d);
        }
      }
    }
    return out;
  }

  /**
   * A deleted user: its waiting evaluations are dropped (they would read an empty profile and put
   * it back into audiences), one under way finishes first (its decisions were read before the
   * delete and must not land after it), then its memberships go.
   */
  private async forget(userId: string): Promise<void> {
    for (const [key, entry] of this.waiting) {
      if (entry.userId !== userId) continue;
      this.waiting.delete(key);
      entry.settle.splice(0).forEach((s) => s.resolve());
    }
    await this.evaluating.get(userId);
    await this.users.run(userId, () => this.forgetUser(userId));
  }

  private async forgetUser(userId: string): Promise<void> {
    // In the user's turn: what is unsent now was left by a crash.
    const [read] = await this.stores.memberships.read([userId]);
    await this.emitApplied(userId, read!.unsent, true);
    const at = this.now();
    const exits = await this.stores.memberships.forgetUser(userId, at, 'USER_DELETED');
    await this.emitApplied(userId, exits.map((t) => ({ ...t, at, profileVersion: null, tag: 'USER_DELETED' })));
    await this.stores.due.schedule([...this.live.keys()].map((audienceId) => ({ audienceId, userId, at: null })));
  }

  /**
   * Evaluates the given audiences for each user on the profile as it is when its evaluation
   * starts, applies the decisions, schedules the time-driven re-evaluations and emits the
   * transitions; resolves when all of that is done for every user. Users are read through the
   * graph in pages, evaluationConcurrency pages at a time, and a user is in one evaluation at a
   * time. A user already waiting for a page (its profile not read yet) is not queued twice: the
   * audiences are added to its entry, since the read it waits for sees this change too. So under
   * load each user costs one read per page turn however many notices it got meanwhile, and at
   * rest a notice is evaluated at once.
   */
  evaluateUsers(byUser: ReadonlyMap<string, ReadonlySet<string>>, reason: MembershipReason): Promise<void> {
    const done: Promise<void>[] = [];
    for (const [userId, audiences] of byUser) {
      const key = `${reason}\u0000${userId}`;
      let entry = this.waiting.get(key);
      if (!entry) this.waiting.set(key, (entry = { userId, reason, audiences: new Set(), settle: [] }));
      for (const a of audiences) entry.audiences.add(a);
      const e = entry;
      done.push(new Promise<void>((resolve, reject) => e.settle.push({ resolve, reject })));
    }
    this.pump();
    return Promise.all(done).then(() => undefined);
  }

  /** Starts pages of waiting users while slots are free. */
  private pump(): void {
    while (this.pagesRunning < this.options.evaluationConcurrency) {
      const page: Waiting[] = [];
      for (const [key, entry] of this.waiting) {
        if (page.length >= this.options.pageSize) break;
        // In an evaluation already: its next one starts after it, and reads what it did not.
        if (this.evaluating.has(entry.userId)) continue;
        this.waiting.delete(key);
        this.evaluating.set(entry.userId, null);
        page.push(entry);
      }
      if (page.length === 0) return;
      this.pagesRunning++;
      const run = this.evaluatePage(page).finally(() => {
        this.pagesRunning--;
        for (const e of page) this.evaluating.delete(e.userId);
        this.pump();
      });
      for (const e of page) this.evaluating.set(e.userId, run);
    }
  }

  /**
   * One page: its profiles and memberships read together, each user then decided on its own.
   * Never rejects: whatever fails settles the page's waiters with the error (their notice
   * batches are then delivered again).
   */
  private async evaluatePage(page: readonly Waiting[]): Promise<void> {
    const ids = page.map((e) => e.userId);
    try {
      const now = this.now();
      const [views, memberships] = await Promise.all([this.source.profiles(ids, this.traitNames, now), this.stores.memberships.read(ids)]);
      for (const reason of new Set(page.map((e) => e.reason))) this.options.observe?.evaluated(page.filter((e) => e.reason === reason).length, reason);
      await Promise.all(
        page.map((entry, i) =>
          this.users.run(entry.userId, () => this.evaluateView(views[i]!, entry.audiences, entry.reason, now, memberships[i]!)).then(
            () => entry.settle.splice(0).forEach((s) => s.resolve()),
            (err: unknown) => entry.settle.splice(0).forEach((s) => s.reject(err)),
          ),
        ),
      );
    } catch (err) {
      for (const e of page) e.settle.splice(0).forEach((s) => s.reject(err));
    }
  }

  /** `read`: the user's memberships, read with the page (audience references see them and this evaluation's decisions). */
  private async evaluateView(view: ProfileView, audienceIds: ReadonlySet<string>, reason: MembershipReason, now: number, read: UserMemberships): Promise<void> {
    await this.resend(view.userId, read.unsent);
    const current = new Set(read.memberships.map((m) => m.audienceId));
    const decisions: MembershipDecision[] = [];
    const due: { audienceId: string; userId: string; at: number | null }[] = [];
    const ctx = { isMember: (a: string) => current.has(a) };
    // In dependency order, so a rule reading another audience sees this evaluation's decision.
    for (const l of this.order) {
      const id = l.audience.id;
      if (!audienceIds.has(id)) continue;
      const member = evaluateRule(l.rule, view, now, ctx);
      decisions.push({ audienceId: id, member });
      if (member) current.add(id);
      else current.delete(id);
      if (l.rule.timeDependent) this.dueOf(due, reason, id, view.userId, nextChangeAt(l.rule, view, now, ctx));
    }
    // The decision and the due times are independent writes: side by side.
    await Promise.all([this.decide(view.userId, view.version, decisions, reason, now, read), this.scheduleDue(due)]);
  }

  /** Applies one user's decisions (made on `basis`, when read) and emits the transitions; returns how many there were. */
  private async decide(userId: string, version: number | null, decisions: MembershipDecision[], reason: MembershipReason, at: number, basis?: UserMemberships): Promise<number> {
    const when = at || this.now();
    const transitions = await this.stores.memberships.apply(userId, version, when, decisions, reason, basis);
    await this.emitApplied(
      userId,
      transitions.map((t) => ({ ...t, at: when, profileVersion: version, tag: reason })),
    );
    return transitions.length;
  }

  /**
   * Transitions a crash left unsent (applied, their change never written out, or written and not
   * acknowledged): emitted in the user's next evaluation, before its own decisions, with the member
   * index written again. `seen`: what the page read. Called in the user's turn, it reads them again:
   * an evaluation of this process may have written them out since the page was read.
   */
  private async resend(userId: string, seen: readonly UnsentTransition[]): Promise<void> {
    if (seen.length === 0) return;
    const [now] = await this.stores.memberships.read([userId]);
    await this.emitApplied(userId, now!.unsent, true);
  }

  /** Emits applied transitions, then acknowledges them: only then are they no longer unsent. */
  private async emitApplied(userId: string, transitions: readonly UnsentTransition[], reindex = false): Promise<void> {
    if (transitions.length === 0) return;
    await this.emit(
      transitions.map((t) => ({
        changeId: changeIdOf(userId, t),
        audienceId: t.audienceId,
        userId,
        entered: t.entered,
        at: t.at,
        reason: t.tag as MembershipReason,
        profileVersion: t.profileVersion ?? 0,
      })),
    );
    await this.stores.memberships.acknowledge(userId, transitions, reindex);
  }

  /**
   * AudienceEntered / AudienceExited on the log (destinations, other consumers) and on pub/sub
   * (subscriptions). The changes emitted in one turn of the event loop (a page's users decide
   * together) are written together, in the order they were emitted: one append, and one publish
   * per topic instead of two per change. Resolves once the batch holding these is written.
   */
  private emit(changes: AudienceChange[]): Promise<void> {
    if (changes.length === 0) return Promise.resolve();
    for (const c of changes) this.options.observe?.changed(c);
    if (!this.emitting) {
      const batch: AudienceChange[] = [];
      const written = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.emitting = null;
        return this.write(batch);
      });
      this.emitting = { batch, written };
    }
    this.emitting.batch.push(...changes);
    return this.emitting.written;
  }

  private async write(changes: AudienceChange[]): Promise<void> {
    // The log (durable: consumers, destinations) and pub/sub (live: subscriptions) side by side;
    // only the log's append must succeed, a failed publish is reported.
    const published = this.outputs.pubsub
      .publishMany(changes.flatMap((c) => [{ ...c, topic: audienceTopic(c.audienceId) }, { ...c, topic: userTopic(c.userId) }]))
      .catch(this.onError);
    await Promise.all([this.outputs.changes.append(changes), published]);
  }

  // --- time -----------------------------------------------------------------------------

  /** Starts the timer of time-driven transitions and resumes unfinished backfills. */
  async start(): Promise<void> {
    await this.reload();
    for (const l of this.live.values()) if (l.audience.status === 'BUILDING') this.startBackfill(l.audience.id);
    this.arm(0);
  }

  /**
   * Adds a pair's due time to the list to store. Having none is written (as a removal) only when
   * the pair came due (TIME): after any other evaluation, a removal per time-dependent audience
   * per event was mostly of pairs never scheduled (one ZREM of dozens of members per event on
   * Redis). A pair left scheduled comes due once, is evaluated like any other (nothing changes
   * that the profile does not say) and is removed then.
   */
  private dueOf(due: { audienceId: string; userId: string; at: number | null }[], reason: MembershipReason, audienceId: string, userId: string, at: number | null): void {
    if (at !== null || reason === 'TIME') due.push({ audienceId, userId, at });
  }

  /** Stores due times (null: none) and wakes the timer for the soonest. */
  private async scheduleDue(due: readonly { audienceId: string; userId: string; at: number | null }[]): Promise<void> {
    if (due.length === 0) return;
    await this.stores.due.schedule(due);
    const soonest = Math.min(...due.map((d) => d.at ?? Infinity));
    if (soonest < Infinity) this.wake(soonest);
  }

  private wake(at: number): void {
    if (at < this.wakeAt) this.arm(Math.max(0, at - this.now()));
  }

  private arm(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.wakeAt = this.now() + delayMs;
    this.timer = setTimeout(() => void this.tick(), Math.min(delayMs, this.options.duePollMs));
    this.timer.unref();
  }

  /** Takes what is due, evaluates it, and sleeps until the next due time (or the next poll). */
  private tick(): Promise<void> {
    return (this.ticking ??= (async () => {
      try {
        this.resumeBackfills();
        for (;;) {
          const due = await this.stores.due.claim(this.now(), this.options.pageSize, this.options.leaseMs);
          if (due.length === 0) break;
          await this.fresh();
          const byUser = new Map<string, Set<string>>();
          // Pairs of audiences deleted since, or whose rule time alone no longer changes (edited):
          // dropped, in one write, or they would be claimed again every lease period.
          const stale = (d: { audienceId: string }) => !this.live.get(d.audienceId)?.rule.timeDependent;
          const gone = due.filter(stale).map((d) => ({ audienceId: d.audienceId, userId: d.userId, at: null }));
          if (gone.length > 0) await this.stores.due.schedule(gone);
          for (const d of due) {
            if (stale(d)) continue;
            let set = byUser.get(d.userId);
            if (!set) byUser.set(d.userId, (set = new Set()));
            set.add(d.audienceId);
          }
          // An audience that reads a due one may change with it.
          for (const [userId, set] of byUser) byUser.set(userId, this.withDependents(set));
          await this.evaluateUsers(byUser, 'TIME');
        }
      } catch (err) {
        this.onError(err);
      } finally {
        this.ticking = null;
      }
      const next = await this.stores.due.next().catch(() => null);
      this.wakeAt = Infinity;
      this.arm(next === null ? this.options.duePollMs : Math.max(0, next - this.now()));
    })());
  }

  // --- backfill -------------------------------------------------------------------------

  /**
   * Every lease period, tries the backfills of BUILDING audiences this process does not run: a
   * replica that died holding one left its lease to run out, and someone must finish it.
   */
  private resumeBackfills(): void {
    const now = this.now();
    if (now - this.resumedAt < this.options.leaseMs) return;
    this.resumedAt = now;
    void this.fresh()
      .then(() => {
        for (const l of this.live.values()) if (l.audience.status === 'BUILDING') this.startBackfill(l.audience.id);
      })
      .catch(this.onError);
  }

  private startBackfill(id: string): void {
    if (this.backfills.has(id) || this.stopped) return;
    const run = this.backfill(id)
      .catch((err) => this.onError(err))
      .finally(() => this.backfills.delete(id));
    this.backfills.set(id, run);
  }

  /** Waits for the backfills this process runs (tests, benchmarks). */
  async settled(): Promise<void> {
    while (this.backfills.size > 0) await Promise.all(this.backfills.values());
  }

  /**
   * Evaluates one audience over every stored profile, resuming from the stored cursor, under a
   * lease (one replica at a time). Progress is stored per page; an edit of the rule (a new
   * revision) ends this run and starts another.
   */
  private async backfill(id: string): Promise<void> {
    if (!(await this.stores.audiences.lease(id, this.holder, this.options.leaseMs))) return;
    // The next page is read while this one is evaluated (for the same revision and cursor only).
    type Page = Awaited<ReturnType<ProfileSource['page']>>;
    let prefetched: { revision: number; cursor: string; page: Promise<Page> } | null = null;
    try {
      for (;;) {
        if (this.stopped) return;
        const [audience] = await this.stores.audiences.get([id]);
        if (!audience || audience.status !== 'BUILDING') return;
        const rule = compileRule(audience.rule);
        const now = this.now();
        const reuse: boolean = prefetched !== null && prefetched.revision === audience.revision && prefetched.cursor === audience.backfill.cursor;
        const page: Page = await (reuse ? prefetched!.page : this.source.page(audience.backfill.cursor, this.options.pageSize, rule.traitNames, now));
        prefetched = null;
        if (page.cursor !== null) {
          const nextPage = this.source.page(page.cursor, this.options.pageSize, rule.traitNames, this.now());
          nextPage.catch(() => undefined); // a failed prefetch is read again, and fails, in its turn
          prefetched = { revision: audience.revision + 1, cursor: page.cursor, page: nextPage };
        }
        // Audiences that read this one, for the users whose membership the page changed.
        const dependents = this.withDependents(this.dependents.get(id) ?? []);
        const followUp = new Map<string, Set<string>>();
        const memberships = await this.stores.memberships.read(page.views.map((v) => v.userId));
        const due: { audienceId: string; userId: string; at: number | null }[] = [];
        await Promise.all(
          page.views.map((view, i) =>
            this.users.run(view.userId, async () => {
              await this.resend(view.userId, memberships[i]!.unsent);
              const member = new Set(memberships[i]!.memberships.map((m) => m.audienceId));
              const ctx = { isMember: (a: string) => member.has(a) };
              const changed = await this.decide(view.userId, view.version, [{ audienceId: id, member: evaluateRule(rule, view, now, ctx) }], 'BACKFILL', now, memberships[i]);
              if (changed > 0 && dependents.size > 0) followUp.set(view.userId, dependents);
              if (rule.timeDependent) this.dueOf(due, 'BACKFILL', id, view.userId, nextChangeAt(rule, view, now, ctx));
            }),
          ),
        );
        // The page's due times in one write.
        await this.scheduleDue(due);
        if (followUp.size > 0) await this.evaluateUsers(followUp, 'BACKFILL');
        const done = page.cursor === null;
        const scanned = audience.backfill.scanned + page.views.length;
        const next: Audience = {
          ...audience,
          status: done ? 'LIVE' : 'BUILDING',
          revision: audience.revision + 1,
          backfill: { ...audience.backfill, scanned, total: done ? scanned : (page.total ?? audience.backfill.total), cursor: page.cursor, finishedAt: done ? this.now() : null },
          updatedAt: audience.updatedAt,
        };
        if (!(await this.stores.audiences.replace(next, audience.revision))) {
          // Edited meanwhile: a new revision starts its own backfill (or this one reads it next).
          continue;
        }
        await this.stores.audiences.lease(id, this.holder, this.options.leaseMs);
        if (done) {
          await this.reload();
          return;
        }
      }
    } finally {
      await this.stores.audiences.release(id, this.holder);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.allSettled([...this.backfills.values(), this.ticking]);
  }
}

/** Unique per user, audience and transition: what consumers dedupe by. */
const changeIdOf = (userId: string, t: MembershipTransition): string => `${t.audienceId}:${userId}:${t.seq}`;

/** Audiences ordered so that each comes after the audiences its rule reads. */
function topological(live: ReadonlyMap<string, Live>): Live[] {
  const out: Live[] = [];
  const seen = new Set<string>();
  const visit = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    const l = live.get(id);
    if (!l) return;
    for (const ref of l.rule.audiences) visit(ref);
    out.push(l);
  };
  for (const id of live.keys()) visit(id);
  return out;
}

/** The path from `from` to `to` through rule references, when there is one (a cycle if `to` then refers to `from`). */
function cyclePath(from: string, to: string, live: ReadonlyMap<string, Live>): string[] | null {
  const stack: [string, string[]][] = [[from, [from]]];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const [id, path] = stack.pop()!;
    if (id === to) return path;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const ref of live.get(id)?.rule.audiences ?? []) stack.push([ref, [...path, ref]]);
  }
  return null;
}
