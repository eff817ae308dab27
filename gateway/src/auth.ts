/**
 * The gateway's side of authentication: callers' JWTs are verified here, and the subgraphs get
 * the verified identity as the gateway's internal token (see lib/auth.ts). Operations other than
 * introspection need a token; what each role may do is decided by the subgraphs that own the data,
 * and fields that need a role are also refused here (scopes.ts).
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { InternalTokens, TokenVerifier } from '../../lib/auth.js';
import { requireIdentityPlugin } from '../../lib/graphql/plugins.js';
import type { AuthConfig, Identity } from '../../lib/auth.js';
import type { RequiredScopes } from './scopes.js';
import { StreamTickets } from './stream-tickets.js';

export interface Caller {
  identity: Identity | null;
  /** The internal token the subgraphs trust (absent without an identity). */
  identityToken?: string;
}

export class GatewayAuth {
  readonly verifier: TokenVerifier;
  readonly internal: InternalTokens;
  /** Tickets that open one SSE stream for an EventSource (stream-tickets.ts). */
  readonly tickets: StreamTickets;

  constructor(config: AuthConfig) {
    this.verifier = new TokenVerifier(config);
    this.internal = new InternalTokens(config);
    this.tickets = new StreamTickets(config);
  }

  private readonly callers = new WeakMap<object, Promise<Caller>>();

  /**
   * The caller of an HTTP request, verified once per request however many steps ask (the rate
   * limit before the body is read, then the operation's context).
   */
  callerOf(req: { raw: object; headers: { authorization?: string | undefined } }): Promise<Caller> {
    let caller = this.callers.get(req.raw);
    if (!caller) this.callers.set(req.raw, (caller = this.caller(req.headers.authorization)));
    return caller;
  }

  /** The caller behind an Authorization value; throws UNAUTHENTICATED / FORBIDDEN for bad tokens. */
  async caller(authorization: string | undefined): Promise<Caller> {
    return this.callerFor(await this.verifier.verify(authorization));
  }

  /** The caller of an already verified identity, with its internal token. */
  async callerFor(identity: Identity | null): Promise<Caller> {
    return { identity, ...(await this.identityToken(identity)) };
  }

  /** The internal token for an identity (signed once, reused until near its expiry). */
  async identityToken(identity: Identity | null): Promise<{ identityToken?: string }> {
    return identity ? { identityToken: await this.internal.sign(identity) } : {};
  }
}

/**
 * Refuses operations without a verified caller (introspection excepted, for Sandbox in
 * development), and those that select a field the caller's roles do not open (scopes.ts), before
 * anything is fetched.
 */
export function requireCallerPlugins(scopes: RequiredScopes, production: boolean): ApolloServerPlugin<Caller>[] {
  // Demo tokens exist only in development (npm start prints them there).
  const refusal = `authentication required: send Authorization: Bearer <JWT>${production ? '' : ' (npm start prints demo tokens)'}`;
  return [
    requireIdentityPlugin<Caller>(refusal),
    {
      async requestDidStart() {
        return {
          async didResolveOperation({ contextValue, operation, document, schema }) {
            const refused = operation && scopes.refusal(schema, document, operation, contextValue.identity);
            if (refused) throw refused;
          },
        };
      },
    },
  ];
}
