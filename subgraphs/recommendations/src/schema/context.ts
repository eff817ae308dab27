import type { Identity } from '../../../../lib/auth.js';
import type { RecommendationService } from '../app/recommendation-service.js';

export interface RecommendationsContext {
  /** The caller the gateway vouched for (null: none). */
  identity: Identity | null;
  service: RecommendationService;
  now: number;
}
