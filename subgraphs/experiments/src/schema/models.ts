/** A User as the gateway sends it here: the key plus the traits `@requires` fetched from the profile. */
export interface UserRepresentation {
  id: string;
  profile?: { traits?: unknown } | null;
}
