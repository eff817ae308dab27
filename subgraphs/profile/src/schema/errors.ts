import { GraphQLError } from 'graphql';
import { BatchError, InputError, StoreUnavailableError } from '../app/profile-service.js';

/** Maps domain input errors to GraphQL errors with `extensions.code`; rethrows anything else. */
export async function withInputErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof BatchError || err instanceof InputError) {
      throw new GraphQLError(err.message, { extensions: { code: err.code } });
    }
    if (err instanceof StoreUnavailableError) {
      throw new GraphQLError(err.message, { extensions: { code: err.code, retryable: true } });
    }
    throw err;
  }
}

export function badInput(message: string, code = 'BAD_USER_INPUT'): GraphQLError {
  return new GraphQLError(message, { extensions: { code } });
}
