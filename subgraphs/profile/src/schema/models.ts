import type { Profile } from '../domain/profile.js';

/** What a User resolves from: a reference by id (the profile is loaded per request, batched). */
export interface User {
  id: string;
}

export interface AliasResult {
  anonymousId: string;
  userId: string;
  merged: boolean;
  eventsMerged: number;
  profile: Profile;
}
