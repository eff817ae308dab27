import DataLoader from 'dataloader';
import type { ExperimentService } from '../app/experiment-service.js';
import type { Assignment } from '../domain/assign.js';
import type { UserRepresentation } from './models.js';

export interface ExperimentsContext {
  service: ExperimentService;
  /** Every running experiment's assignment per user; one store round trip per request. */
  assignments: DataLoader<UserRepresentation, Assignment[], string>;
}

function traitsOf(user: UserRepresentation): Record<string, unknown> {
  const traits = user.profile?.traits;
  return typeof traits === 'object' && traits !== null && !Array.isArray(traits) ? (traits as Record<string, unknown>) : {};
}

export function createContext(service: ExperimentService): ExperimentsContext {
  return {
    service,
    assignments: new DataLoader(
      (users) => service.assignMany(users.map((u) => ({ userId: u.id, traits: traitsOf(u) }))),
      { cacheKeyFn: (u) => u.id },
    ),
  };
}

export { traitsOf };
