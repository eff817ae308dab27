/**
 * A User as the gateway sends it here: the key plus what `@requires` fetched: the traits from the
 * profile and the audiences the user is in from the audiences subgraph.
 */
export interface UserRepresentation {
  id: string;
  profile?: { traits?: unknown; eventCount?: unknown } | null;
  audiences?: readonly ({ audience?: { id?: unknown } | null } | null)[] | null;
}
