/**
 * The gateway's side of authentication: callers' JWTs are verified here, and the subgraphs get
 * the verified identity as the gateway's internal token (see lib/auth.ts). Operations other than
 * introspection need a token; what each role may do is decided by the subgraphs that own the data.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { Kind } from 'graphql';
import type { OperationDefinitionNode, SelectionSetNode } from 'graphql';
import { InternalTokens, TokenVerifier, unauthenticated } from '../../lib/auth.js';
import type { AuthConfig, Identity } from '../../lib/auth.js';

export interface Caller {
  identity: Identity | null;
  /** The internal token the subgraphs trust (absent without an identity). */
  identityToken?: string;
}

export class GatewayAuth {
  readonly verifier: TokenVerifier;
  readonly internal: InternalTokens;

  constructor(config: AuthConfig) {
    this.verifier = new TokenVerifier(config);
    this.internal = new InternalTokens(config);
  }

  /** The caller behind an Authorization value; throws UNAUTHENTICATED / FORBIDDEN for bad tokens. */
  async caller(authorization: string | undefined): Promise<Caller> {
    const identity = await this.verifier.verify(authorization);
    return { identity, ...(await this.identityToken(identity)) };
  }

  /** The internal token for an identity (signed once, reused until near its expiry). */
  async identityToken(identity: Identity | null): Promise<{ identityToken?: string }> {
    return identity ? { identityToken: await this.internal.sign(identity) } : {};
  }
}

const introspectionOnly = (set: SelectionSetNode): boolean =>
  set.selections.every((s) =>
    s.kind === Kind.FIELD ? s.name.value.startsWith('__') : s.kind === Kind.INLINE_FRAGMENT ? introspectionOnly(s.selectionSet) : false,
  );

/** True when the operation only asks for introspection (__schema, __type, __typename). */
export function isIntrospection(operation: OperationDefinitionNode): boolean {
  return introspectionOnly(operation.selectionSet);
}

/** An operation needs a verified caller unless it only asks for introspection. */
export function needsCaller(caller: Caller, operation: OperationDefinitionNode | null | undefined): boolean {
  return !caller.identity && (!operation || !isIntrospection(operation));
}

/** Refuses operations without a verified caller (introspection excepted, for Sandbox in development). */
export function requireCallerPlugin(): ApolloServerPlugin<Caller> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue, operation }) {
          if (needsCaller(contextValue, operation)) {
            throw unauthenticated('authentication required: send Authorization: Bearer <JWT> (npm start prints demo tokens)', 401);
          }
        },
      };
    },
  };
}
