/** The Apollo Server plugins the services share. */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { GraphQLError } from 'graphql';
import { isIntrospection, unauthenticated } from '../auth.js';
import type { Identity } from '../auth.js';
import { badVariables } from './variables.js';

/** Landing page (Apollo Sandbox) in development only. */
export function landingPagePlugin(production: boolean): ApolloServerPlugin {
  return production
    ? ApolloServerPluginLandingPageDisabled()
    : ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false });
}

const requestError = (message: string, code: string) => new GraphQLError(message, { extensions: { code, http: { status: 400 } } });

/**
 * Request errors every service answers with 400, as a plain Apollo Server does. Behind the gateway
 * they were 500s: an operationName that names no operation (or several operations and no name) is
 * an INVALID_GRAPHQL error thrown by the gateway's executor, a subscription sent over HTTP is
 * "Execution of subscriptions not supported by gateway", and variables nested thousands of levels
 * deep overflowed JSON.stringify when the gateway forwarded them to a subgraph.
 */
export function requestErrorsPlugin<Ctx extends BaseContext>(): ApolloServerPlugin<Ctx> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, request }) {
          if (!operation) {
            throw requestError(
              request.operationName
                ? `Unknown operation named "${request.operationName}".`
                : 'Must provide operation name if query contains multiple operations.',
              'OPERATION_RESOLUTION_FAILURE',
            );
          }
          if (operation.operation === 'subscription') {
            throw requestError('subscriptions are served over graphql-ws (WebSocket) on this path, not over HTTP', 'BAD_REQUEST');
          }
          const bad = badVariables(request.variables);
          if (bad) throw requestError(bad.message, 'BAD_USER_INPUT');
        },
      };
    },
  };
}

/**
 * Refuses an operation whose context has no verified identity (401 UNAUTHENTICATED, `refusal` as
 * the message) before it runs, introspection excepted (introspection itself is off in production).
 * The gateway refuses callers without a token with it; a subgraph, operations without the
 * gateway's identity (_service and _entities included, so the composed schema is not handed to
 * whoever reaches the port).
 */
export function requireIdentityPlugin<Ctx extends BaseContext>(refusal: string): ApolloServerPlugin<Ctx> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue, operation }) {
          if ((contextValue as { identity?: Identity | null }).identity) return;
          if (operation && isIntrospection(operation)) return;
          throw unauthenticated(refusal, 401);
        },
      };
    },
  };
}
