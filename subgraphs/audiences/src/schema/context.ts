import DataLoader from 'dataloader';
import type { AudienceService } from '../app/audience-service.js';
import type { Identity } from '../../../../lib/auth.js';
import type { PubSub } from '../../../../lib/pubsub/port.js';
import type { AudienceChangeMessage } from '../app/audience-service.js';
import type { DestinationDelivery } from '../app/destinations.js';
import type { DestinationStore } from '../store/ports.js';
import type { MembershipModel } from './models.js';

export interface AudiencesContext {
  identity: Identity | null;
  service: AudienceService;
  pubsub: PubSub<AudienceChangeMessage>;
  destinations: DestinationStore;
  delivery: DestinationDelivery;
  /** Per request: one store round trip for every user's memberships, and for every audience's size. */
  memberships: DataLoader<string, MembershipModel[]>;
  sizes: DataLoader<string, number>;
}

export function createContext(
  service: AudienceService,
  pubsub: PubSub<AudienceChangeMessage>,
  destinations: DestinationStore,
  delivery: DestinationDelivery,
  identity: Identity | null,
  live = false,
): AudiencesContext {
  return {
    identity,
    service,
    pubsub,
    destinations,
    delivery,
    memberships: new DataLoader((ids) => service.membershipsOf(ids), { cache: !live }),
    sizes: new DataLoader((ids) => service.sizes(ids), { cache: !live }),
  };
}
