/**
 * Use cases of the profile service: ingest, identify, alias, delete and reads. HTTP and GraphQL
 * both call these, so there is one validation and apply path.
 */
import { randomUUID } from 'node:crypto';
import type { ReducerConfig } from '../domain/config.js';
import { eventKey } from '../../../../lib/contracts/event.js';
import type { ProfileEvent } from '../../../../lib/contracts/event.js';
import type { Profile } from '../domain/profile.js';
import { emptyProfile } from '../domain/profile.js';
import { applyEvents, changedFields, mergeProfiles } from '../domain/reducer.js';
import { checkBatch, validateEvent, validateId } from '../../../../lib/contracts/validate.js';
import type { Rejection, ValidationLimits } from '../../../../lib/contracts/validate.js';
import { AliasedProfileError } from '../store/ports.js';
import type { FoldEvents, ProfileSnapshot, ProfileStore, ProfileStores } from '../store/ports.js';
import { PartialAppendError } from '../../../../lib/eventlog/port.js';
import type { EventLog } from '../../../../lib/eventlog/port.js';
import { CodedError, StoreUnavailableError } from '../../../../lib/contracts/errors.js';
import { KeyedQueue } from '../../../../lib/keyed-queue.js';
import { TraitDefinitions } from './trait-definitions.js';
import { inLinkedSpan } from '../../../../lib/tracing.js';

export interface IngestResult {
  accepted: number;
  duplicates: number;
  rejected: Rejection[];
  /** Whether the accepted events are already applied to the profiles (read-your-writes). */
  applied: boolean;
}

export interface IngestOptions {
  /** Size of the request body, when known (saves serializing the batch to measure it). */
  bytes?: number;
  /** Answer only once the accepted events are applied: they are applied during the request. */
  waitApplied?: boolean;
}

const ALL_FIELDS = ['categoryAffinities', 'computedTraits', 'eventCount', 'facetAffinities', 'genreAffinities', 'lastEventAt', 'rankingFeatures', 'recentItems', 'series', 'skus', 'traits', 'version'];

/** The largest page of Query.users. */
const MAX_USERS_PAGE = 1000;

/** Consumer group of the profile updater on the event log. */
export const PROFILE_UPDATER_GROUP = 'profile-updater';

/**
 * The profile updater: a member of the consumer group that applies streamed events. Each batch is
 * applied in a span (`profile.apply`) that continues the traces its entries were accepted under.
 */
export function startProfileUpdater(service: ProfileService, eventLog: EventLog) {
  return eventLog.consume(PROFILE_UPDATER_GROUP, (events, batch) =>
    inLinkedSpan('profile-updater', 'profile.apply', batch.traceparents, { 'messaging.batch.message_count': events.length, 'messaging.consumer.group.name': PROFILE_UPDATER_GROUP }, () => service.applyBatch(events, { reannounce: batch.redelivered })),
  );
}

export type ChangeListener = (change: ProfileChange) => void | Promise<void>;

/** Emitted after a profile changed (the subscriptions issue publishes these). */
export interface ProfileChange {
  userId: string;
  version: number;
  cause: 'events' | 'alias' | 'delete';
  eventIds: string[];
  /** Profile fields the change touched. */
  changed: string[];
}

export interface ProfileServiceOptions {
  reducer: ReducerConfig;
  validation: ValidationLimits;
  /**
   * Where accepted events go (deduplicated on the way in): the profile updater group in stream
   * mode, and other consumers (the recommendations trending consumer) in both modes.
   */
  eventLog: EventLog;
  /**
   * inline: append, then apply during the request (embedded mode).
   * stream: append durably and answer; the profile updater consumer group applies (Redis mode).
   * A read-your-writes request (waitApplied) is applied during the request in both modes.
   */
  mode?: 'inline' | 'stream';
  now?: () => number;
  /** How old the computed-trait definitions a write folds with may be (TRAIT_DEFINITIONS_REFRESH). */
  traitRefreshMs?: number;
  /** Told what ingestion did and how long applied events took from acceptance (metrics). */
  observe?: {
    ingested(accepted: number, duplicates: number, rejectedCodes: readonly string[]): void;
    applied(latenciesMs: readonly number[]): void;
  };
}


export class ProfileService {
  private readonly listeners = new Set<ChangeListener>();
  /** One merge per anonymous id at a time in this process, so a retried alias cannot interleave. */
  private readonly aliasing = new KeyedQueue();
  /**
   * One write per user at a time in this process: batches handled side by side (the updater's
   * partitions, a read-your-writes request) queue here instead of racing on the compare-and-set.
   */
  private readonly writing = new KeyedQueue();
  private readonly now: () => number;
  readonly traits: TraitDefinitions;

  constructor(
    private readonly stores: ProfileStores,
    readonly options: ProfileServiceOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.traits = new TraitDefinitions(stores.traitDefinitions, options.reducer, options.traitRefreshMs, this.now);
  }

  /**
   * The reducer as the stores call it (with the computed-trait definitions as last loaded): a
   * store that appends events folds them in with it on reads and rewrites (ProfileStore.append).
   */
  readonly foldEvents: FoldEvents = (current, events, owned) => applyEvents(current ?? emptyProfile(events[0]?.userId ?? ''), events, this.reducerConfig, owned).profile;

  /** The reducer configuration, computed-trait definitions included (see trait-definitions.ts). */
  get reducerConfig(): ReducerConfig {
    return this.traits.config;
  }

  /** A page of stored users with their profiles (Query.users): the audiences backfill reads it. */
  async listUsers(cursor: string | null, first: number) {
    if (!Number.isInteger(first) || first < 1 || first > MAX_USERS_PAGE) {
      throw new CodedError('BAD_USER_INPUT', `first must be between 1 and ${MAX_USERS_PAGE}`);
    }
    let page: Awaited<ReturnType<ProfileStore['page']>>;
    try {
      await this.traits.fresh();
      page = await this.stores.profiles.page(cursor, first, this.foldEvents);
    } catch (err) {
      if (err instanceof RangeError) throw new CodedError('BAD_USER_INPUT', 'after is not a cursor this listing returned');
      throw err;
    }
    return {
      nodes: page.profiles.map((p) => ({ id: p.userId, loadedProfile: p })),
      pageInfo: { hasNextPage: page.cursor !== null, endCursor: page.cursor },
      // Counted once, with the first page: a listing reads it there (it is a scan on some stores).
      totalCount: cursor === null ? await this.stores.profiles.count() : null,
    };
  }

  /**
   * Subscribes to profile changes; returns the unsubscribe function. A listener that returns a
   * promise holds up the write path that made the change until it settles, and its rejection
   * fails that path (publishChanges: the change notice is appended before the updater
   * acknowledges the events, and a redelivery announces the change again).
   */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Validates and applies a batch. Throws CodedError (BATCH_TOO_LARGE, BATCH_INVALID) when the batch as a whole is unacceptable
   * (too many events, too large, not a list); otherwise reports each rejected event.
   */
  async ingest(rawEvents: unknown, opts: IngestOptions = {}): Promise<IngestResult> {
    const result = await this.ingestBatch(rawEvents, opts);
    this.options.observe?.ingested(result.accepted, result.duplicates, result.rejected.map((r) => r.code));
    return result;
  }

  private async ingestBatch(rawEvents: unknown, opts: IngestOptions): Promise<IngestResult> {
    const events = checkBatch(rawEvents, this.options.validation, opts.bytes);
    const now = this.now();
    const rejected: Rejection[] = [];
    const valid: ProfileEvent[] = [];
    let duplicates = 0;
    const seenInBatch = new Set<string>();
    const indexOf = new Map<ProfileEvent, number>();
    events.forEach((raw, index) => {
      const result = validateEvent(raw, index, now, this.options.validation);
      if (!result.ok) {
        rejected.push(result.rejection);
        return;
      }
      const key = eventKey(result.event);
      if (seenInBatch.has(key)) duplicates++;
      else {
        seenInBatch.add(key);
        valid.push(result.event);
        indexOf.set(result.event, index);
      }
    });
    if (valid.length === 0) return { accepted: 0, duplicates, rejected, applied: true };

    // Accepting an event is one atomic step of the log: its id is claimed exactly when it is
    // appended. Whatever fails after that, the event is in the log and will be applied; whatever
    // fails before, nothing of it is stored and the producer's retry is accepted afresh.
    const log = this.options.eventLog;
    let inLog: ProfileEvent[] = valid;
    let accepted: number;
    try {
      const result = await log.append(valid);
      duplicates += result.duplicates.length;
      accepted = valid.length - result.duplicates.length;
    } catch (err) {
      if (!(err instanceof PartialAppendError)) throw new StoreUnavailableError(err);
      // The partitions that failed took nothing (no claim either): those events are retryable.
      const failed = new Set(err.failed);
      inLog = valid.filter((e) => !failed.has(e));
      duplicates += err.duplicates.length;
      accepted = inLog.length - err.duplicates.length;
      for (const e of err.failed) {
        rejected.push({
          index: indexOf.get(e) ?? -1,
          eventId: e.eventId,
          code: 'STORE_UNAVAILABLE',
          message: 'the event log could not take this event; retry it (retryable)',
        });
      }
      rejected.sort((a, b) => a.index - b.index);
    }
    if (this.options.mode === 'stream' && !opts.waitApplied) return { accepted, duplicates, rejected, applied: false };
    // Inline mode and read-your-writes apply during the request (the updater group, which also
    // gets the entries, finds them in the profile's ledger and does not apply them again). The
    // duplicates are applied too: a retry whose first attempt was accepted but never answered
    // must still see its events applied when the answer comes. The ledger makes that idempotent.
    try {
      // Events found applied already are announced again: a producer's retry may follow an
      // attempt whose change notice never made it.
      await this.applyBatch(inLog, { reannounce: true });
    } catch (err) {
      // In the log, so applied later by the updater group; the request cannot say applied. The
      // producer's retry (duplicates now) applies them during the request.
      throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(err);
    }
    return { accepted, duplicates, rejected, applied: true };
  }

  /**
   * Applies validated, deduplicated events, grouped by canonical user: during the request in
   * inline mode, from the profile updater consumer group in stream mode.
   */
  async applyBatch(events: readonly ProfileEvent[], { reannounce = false }: { reannounce?: boolean } = {}, attempt = 0): Promise<void> {
    if (events.length === 0) return;
    const ids = [...new Set(events.map((e) => e.userId))];
    // A retry after AliasedProfileError resolves afresh; the first try may answer from memory.
    const resolved = await (attempt === 0 ? this.stores.identities.resolveForWrite(ids) : this.stores.identities.resolve(ids, { fresh: true }));
    const canonicalOf = new Map(ids.map((id, i) => [id, resolved[i]!]));
    const byUser = new Map<string, ProfileEvent[]>();
    events.forEach((e) => {
      const userId = canonicalOf.get(e.userId)!;
      const list = byUser.get(userId) ?? [];
      // Moved by an alias: the same event (its key keeps the user it was sent for).
      list.push(userId === e.userId ? e : { ...e, userId, sentAs: e.sentAs ?? e.userId });
      byUser.set(userId, list);
    });
    const aliasedMeanwhile: ProfileEvent[] = [];
    await Promise.all(
      [...byUser].map(async ([userId, userEvents]) => {
        try {
          const pending = await this.notAppliedBeforeTheAlias(userEvents);
          await this.writing.run(userId, () => this.applyToUser(userId, pending, reannounce));
        } catch (err) {
          if (!(err instanceof AliasedProfileError)) throw err;
          aliasedMeanwhile.push(...userEvents);
        }
      }),
    );
    // An alias was created while these were in flight: they belong to the known user now.
    if (aliasedMeanwhile.length > 0) {
      if (attempt >= 5) throw new Error('user ids keep being re-aliased; the batch will be redelivered');
      await this.applyBatch(aliasedMeanwhile, { reannounce }, attempt + 1);
    }
  }

  /**
   * Events an alias moved here that the anonymous profile had applied already are left out: the
   * merge brings (or brought) them along. The anonymous id's ledger no longer changes once the
   * alias exists (its profile refuses writes), so reading it here is safe.
   */
  private async notAppliedBeforeTheAlias(userEvents: ProfileEvent[]): Promise<ProfileEvent[]> {
    const bySender = new Map<string, ProfileEvent[]>();
    for (const e of userEvents) if (e.sentAs !== undefined && e.sentAs !== e.userId) (bySender.get(e.sentAs) ?? bySender.set(e.sentAs, []).get(e.sentAs)!).push(e);
    if (bySender.size === 0) return userEvents;
    const skip = new Set<ProfileEvent>();
    await Promise.all(
      [...bySender].map(async ([sender, moved]) => {
        const applied = await this.stores.profiles.applied(sender, moved.map(eventKey));
        moved.forEach((e, i) => applied[i] && skip.add(e));
      }),
    );
    return skip.size === 0 ? userEvents : userEvents.filter((e) => !skip.has(e));
  }

  /**
   * `reannounce`: when none of the events is new (all in the ledger), announce the profile as it
   * is anyway. The write that applied them may have been cut short before its notice (a crash, a
   * notice log that kept failing): the redelivery (or the producer's retry) finishes it, and
   * consumers of the notices take one twice without harm.
   */
  private async applyToUser(userId: string, userEvents: ProfileEvent[], reannounce = false): Promise<void> {
    if (userEvents.length === 0) return;
    await this.traits.fresh();
    const cfg = this.reducerConfig;
    let appliedNow = 0;
    // The store leaves out the events its ledger lists (applied before, however long ago within
    // DEDUPE_TTL) and writes the ledger with the profile: a redelivery never counts twice. Where
    // it can, it appends them without rewriting the profile (ProfileStore.append).
    const appended = await this.stores.profiles.append?.(userId, userEvents, this.foldEvents);
    let version: number;
    if (appended) {
      appliedNow = appended.applied;
      version = appended.version;
    } else {
      const profile = await this.stores.profiles.apply(userId, userEvents, (current, fresh, owned) => {
        const outcome = applyEvents(current ?? emptyProfile(userId), fresh, cfg, owned);
        appliedNow = outcome.applied;
        return outcome.profile;
      });
      version = profile.version;
    }
    // A first delivery of events applied already (the updater seeing a read-your-writes entry)
    // changes nothing and announces nothing.
    // (Not for a profile that is gone: its delete was announced.)
    if (appliedNow > 0 || (reannounce && version > 0)) {
      if (this.options.observe && appliedNow > 0) {
        const now = Date.now();
        this.options.observe.applied(userEvents.filter((e) => e.receivedAt !== undefined).map((e) => now - e.receivedAt!));
      }
      await this.emit({
        userId,
        version,
        cause: 'events',
        eventIds: userEvents.map((e) => e.eventId),
        changed: changedFields(userEvents, cfg),
      });
    }
  }

  async identify(userId: string, traits: unknown, eventId?: string | null, occurredAt?: string | number | null) {
    return this.ingest([
      {
        eventId: eventId ?? `identify-${randomUUID()}`,
        userId,
        type: 'IDENTIFY',
        occurredAt: occurredAt ?? this.now(),
        traits,
      },
    ]);
  }

  /** Merges the anonymous profile into the user's; later events for anonymousId go to userId. */
  async alias(anonymousId: string, userId: string) {
    return this.aliasing.run(anonymousId, () => this.mergeAlias(anonymousId, userId));
  }

  private async mergeAlias(anonymousId: string, userId: string) {
    const limits = this.options.validation;
    const anon = validateId(anonymousId, 'anonymousId', 'USER_ID_INVALID', limits);
    const [target] = await this.stores.identities.resolve([validateId(userId, 'userId', 'USER_ID_INVALID', limits)]);
    if (anon === target) throw new CodedError('ALIAS_INVALID', 'anonymousId and userId must differ');
    const linkedTo = await this.stores.identities.link(anon, target!);
    if (linkedTo !== target) {
      throw new CodedError('ALIAS_CONFLICT', `${anon} is already aliased to another user`);
    }
    await this.traits.fresh();
    const [source] = await this.stores.profiles.getMany([anon], this.foldEvents);
    if (!source) {
      const [profile] = await this.loadProfiles([target!]);
      return { anonymousId: anon, userId: target!, merged: false, eventsMerged: 0, profile: profile! };
    }
    const cfg = this.reducerConfig;
    // The anonymous profile's ledger moves with it: its events, redelivered later under the
    // anonymous id, resolve to the known user and must find themselves applied there. The merge
    // is recorded with the known profile in the same write (a once-change), so a retried alias,
    // after a crash before the anonymous profile was deleted or from another replica, does not
    // merge twice.
    const ledger = await this.stores.profiles.ledger(anon);
    const merged = await this.stores.profiles.update(
      target!,
      (current) => mergeProfiles(current ?? emptyProfile(target!), { ...source, userId: target! }, cfg),
      ledger,
      mergeKey(anon),
      this.foldEvents,
    );
    // Announced before the anonymous profile goes: a retry after a failed notice still finds it,
    // finds the merge made (the once-change) and announces it again.
    await this.emit({ userId: target!, version: merged.version, cause: 'alias', eventIds: [], changed: ALL_FIELDS });
    await this.stores.profiles.delete(anon);
    await this.stores.snapshots.delete(anon);
    return { anonymousId: anon, userId: target!, merged: true, eventsMerged: source.eventCount, profile: merged };
  }

  /** Removes the profile, its snapshot and its aliases. */
  async deleteUser(id: string): Promise<{ userId: string; deleted: boolean }> {
    const userId = validateId(id, 'id', 'USER_ID_INVALID', this.options.validation);
    const [linkedTo] = await this.stores.identities.resolve([userId], { fresh: true });
    const deleted = await this.stores.profiles.delete(userId);
    await this.stores.snapshots.delete(userId);
    // An anonymous id whose link goes may be used again: a later alias of it must merge again.
    if (linkedTo !== userId) await this.stores.profiles.forgetChange(linkedTo!, mergeKey(userId));
    await this.stores.identities.forget(userId);
    // Announced even when there was nothing to delete: a retry after a notice that failed (this
    // call then fails, retryable) must still announce it. Consumers forget the user either way.
    await this.emit({ userId, version: 0, cause: 'delete', eventIds: [], changed: ALL_FIELDS });
    return { userId, deleted };
  }

  /** Profiles by user id (aliases resolved); an empty profile where the user has none. */
  async loadProfiles(ids: readonly string[]): Promise<Profile[]> {
    // Aliases are rare: read the profiles under the ids as given while the aliases resolve, then
    // again only for ids that turn out to be aliases (one round trip to the store, not two).
    // Appended events are folded in with the definitions as fresh as a write's.
    await this.traits.fresh();
    const [canonical, profiles] = await Promise.all([this.stores.identities.resolve(ids), this.stores.profiles.getMany(ids, this.foldEvents)]);
    const moved = canonical.flatMap((id, i) => (id !== ids[i] ? [i] : []));
    if (moved.length > 0) {
      const again = await this.stores.profiles.getMany(moved.map((i) => canonical[i]!), this.foldEvents);
      moved.forEach((i, k) => (profiles[i] = again[k] ?? null));
    }
    return profiles.map((p, i) => p ?? emptyProfile(canonical[i]!));
  }

  async loadSnapshots(ids: readonly string[]): Promise<(ProfileSnapshot | null)[]> {
    return this.stores.snapshots.getMany(ids);
  }

  /** Tells the listeners; a listener's failure (its notice not written) fails the caller, retryable. */
  private async emit(change: ProfileChange): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const listener of this.listeners) {
      const settled = listener(change);
      if (settled) pending.push(settled);
    }
    if (pending.length === 0) return;
    try {
      await Promise.all(pending);
    } catch (err) {
      throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(err);
    }
  }
}

/** The once-change (ProfileStore.update) of merging `anonymousId` into a profile. */
function mergeKey(anonymousId: string): string {
  return `merge:${anonymousId}`;
}

