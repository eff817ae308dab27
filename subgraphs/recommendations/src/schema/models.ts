/**
 * A User as the gateway sends it to this subgraph: the key plus the fields `@requires` asked the
 * profile subgraph for.
 */
export interface UserRepresentation {
  id: string;
  profile?: {
    rankingFeatures?: unknown;
    batchSnapshot?: { rankingFeatures?: unknown } | null;
  } | null;
  assignments?: Array<{ experimentKey?: unknown; variant?: unknown; inExperiment?: unknown }> | null;
}
