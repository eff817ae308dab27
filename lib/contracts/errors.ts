/**
 * The one error vocabulary of every service: a code the caller can act on (`BATCH_TOO_LARGE`,
 * `USER_ID_INVALID`, `STORE_UNAVAILABLE`, ...), a message for people, and whether the same
 * request may succeed when retried. Domain code throws CodedError; each transport has one
 * formatter (lib/graphql/errors.ts withCodedErrors for resolvers, the events route for HTTP).
 */
export class CodedError extends Error {
  readonly retryable: boolean;
  /** What the caller can act on beyond the code, as data (GraphQL: beside `code` in `extensions`). */
  readonly details: Readonly<Record<string, unknown>> | undefined;
  constructor(
    readonly code: string,
    message: string,
    options: { retryable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }
}

/** A store or the event log failed (connection lost, timeout): the caller should retry shortly. */
export class StoreUnavailableError extends CodedError {
  constructor(cause: unknown) {
    super('STORE_UNAVAILABLE', `the data store is unavailable; retry shortly (${(cause as Error)?.message ?? String(cause)})`, { retryable: true, cause });
  }
}
