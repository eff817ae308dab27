import type { RecommendationService } from '../app/recommendation-service.js';

export interface RecommendationsContext {
  service: RecommendationService;
  now: number;
}
