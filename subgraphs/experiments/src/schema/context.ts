import DataLoader from 'dataloader';
import type { ExperimentService, UserTraits } from '../app/experiment-service.js';
import type { ResultsFeeds } from '../app/results-feed.js';
import type { Assignment } from '../domain/assign.js';
import type { UserRepresentation } from './models.js';
import type { Identity } from '../../../../lib/auth.js';
import type { RateLimiter } from '../../../../lib/rate-limit.js';

export interface ExperimentsContext {
  /** The caller the gateway vouched for (null: none). */
  identity: Identity | null;
  service: ExperimentService;
  /** Every running experiment's assignment per user; one store round trip per request. */
  assignments: DataLoader<UserRepresentation, Assignment[], string>;
  /** trackUnitEvents per token (subject), in events: shared by every request of this replica. */
  unitEventLimiter: RateLimiter;
  /** Live results, one computation per experiment and unit (experimentResultsUpdated). */
  feeds: ResultsFeeds;
}

/**
 * The attributes targeting conditions read: the profile's traits, and `audiences`, the ids of the
 * audiences the user is in (it takes the place of a trait of that name).
 */
function traitsOf(user: UserRepresentation): Record<string, unknown> {
  const traits = user.profile?.traits;
  const own = typeof traits === 'object' && traits !== null && !Array.isArray(traits) ? (traits as Record<string, unknown>) : {};
  const audiences = (user.audiences ?? []).map((m) => m?.audience?.id).filter((id): id is string => typeof id === 'string');
  return { ...own, audiences };
}

export function createContext(service: ExperimentService, identity: Identity | null, unitEventLimiter: RateLimiter, feeds: ResultsFeeds): ExperimentsContext {
  return {
    identity,
    service,
    unitEventLimiter,
    feeds,
    assignments: new DataLoader(
      (users) => service.assignMany(users.map(userTraitsOf)),
      { cacheKeyFn: (u) => u.id },
    ),
  };
}

/** The user's activity before assignment (events applied so far): the CUPED covariate. */
function covariateOf(user: UserRepresentation): number | null {
  const n = user.profile?.eventCount;
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}

/** What assignment reads of a user representation: its id, targeting attributes and covariate. */
export const userTraitsOf = (u: UserRepresentation): UserTraits => ({ userId: u.id, traits: traitsOf(u), covariate: covariateOf(u) });
