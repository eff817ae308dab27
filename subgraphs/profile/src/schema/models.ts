import type { Profile } from '../domain/profile.js';

/**
 * What a User resolves from: a reference by id (the profile is loaded per request, batched), or
 * in a subscription update the profile loaded for that update.
 */
export interface User {
  id: string;
  loadedProfile?: Profile;
}

export interface ProfileUpdate {
  userId: string;
  version: number;
  cause: string;
  changed: string[];
  at: number;
  user: User;
}

export interface AliasResult {
  anonymousId: string;
  userId: string;
  merged: boolean;
  eventsMerged: number;
  profile: Profile;
}
