/** An audience as the audiences subgraph stores it: its rule, status and backfill progress. */
import { CodedError } from '../../../../lib/contracts/errors.js';

export type AudienceStatus = 'BUILDING' | 'LIVE';

export interface Backfill {
  scanned: number;
  total: number | null;
  /** Where the listing resumes (null: from the start, or done). */
  cursor: string | null;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface Audience {
  id: string;
  name: string;
  description: string | null;
  /** The rule as given (JSON): compiled by rules.ts wherever it is evaluated. */
  rule: unknown;
  status: AudienceStatus;
  /** Grows with every change of the rule: a backfill of an older revision stops. */
  revision: number;
  backfill: Backfill;
  createdAt: number;
  updatedAt: number;
}

const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const MAX_NAME = 200;
const MAX_DESCRIPTION = 2000;

export function checkAudienceId(id: string): string {
  if (!ID.test(id)) throw new CodedError('AUDIENCE_ID_INVALID', 'an audience id must match [a-z0-9][a-z0-9_-]{0,63}');
  return id;
}

export function checkName(name: string): string {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > MAX_NAME) throw new CodedError('BAD_USER_INPUT', `name must be 1 to ${MAX_NAME} characters`);
  return trimmed;
}

export function checkDescription(description: string | null | undefined): string | null {
  if (description == null) return null;
  if (description.length > MAX_DESCRIPTION) throw new CodedError('BAD_USER_INPUT', `description must be at most ${MAX_DESCRIPTION} characters`);
  return description;
}

export const freshBackfill = (now: number): Backfill => ({ scanned: 0, total: null, cursor: null, startedAt: now, finishedAt: null });
