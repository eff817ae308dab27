/** CodedError (lib/contracts/errors.ts) as a GraphQL error: `extensions.code`, and `retryable` when it is. */
import { GraphQLError } from 'graphql';
import { CodedError } from './contracts/errors.js';

export function codedGraphQLError(err: CodedError): GraphQLError {
  return new GraphQLError(err.message, { extensions: { code: err.code, ...(err.retryable ? { retryable: true } : {}) } });
}

/** Runs a resolver's work; a CodedError it throws becomes its GraphQL error, anything else is rethrown. */
export async function withCodedErrors<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw err instanceof CodedError ? codedGraphQLError(err) : err;
  }
}
