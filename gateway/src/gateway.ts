/** The federated gateway: @apollo/gateway on Apollo Server 5 from the static supergraph file. */
import { readFileSync } from 'node:fs';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { Fetcher } from '@apollo/utils.fetcher';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createServiceApp, landingPagePlugin, listen } from '../../lib/service-app.js';
import type { GatewayConfig } from './config.js';
import { SubscriptionGateway } from './subscriptions.js';

export interface GatewayContext {
  requestId: string;
  authorization?: string;
}

/** Forwards the caller's authorization and request id to every subgraph. */
class ForwardingDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const headers = request.http?.headers;
    if (!headers || !context) return;
    if (context.requestId) headers.set('x-request-id', context.requestId);
    if (context.authorization) headers.set('authorization', context.authorization);
  }
}

export interface GatewayServer {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

export function createGateway(config: GatewayConfig): ApolloGateway {
  // @apollo/gateway reports anonymous usage data unless this is set; it stays off unless asked for.
  if (!config.apolloTelemetry) process.env['APOLLO_TELEMETRY_DISABLED'] = 'true';
  return new ApolloGateway({
    supergraphSdl: readFileSync(config.supergraphPath, 'utf8'),
    // Node's fetch (undici): pooled keep-alive connections without a per-host socket cap.
    buildService: ({ name, url }) => new ForwardingDataSource({ url: config.subgraphUrls[name] ?? url, fetcher: fetch as unknown as Fetcher }),
  });
}

function contextFromRequest(req: FastifyRequest): GatewayContext {
  const authorization = req.headers.authorization;
  return { requestId: req.id, ...(authorization ? { authorization } : {}) };
}

export async function startGateway(config: GatewayConfig): Promise<GatewayServer> {
  const gateway = createGateway(config);
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    introspection: !config.production,
    // No cache-control hints are used; their plugin would instrument every field.
    plugins: [landingPagePlugin(config.production), ApolloServerPluginCacheControlDisabled()],
  });
  const app = await createServiceApp<GatewayContext>({
    name: 'gateway',
    apollo,
    context: async (req) => contextFromRequest(req),
    bodyLimit: config.bodyLimit,
    corsOrigins: config.corsOrigins,
    logLevel: config.logLevel,
    health: () => ({ subgraphs: Object.keys(config.subgraphUrls) }),
  });
  new SubscriptionGateway(gateway, {
    subgraphUrls: config.subgraphUrls,
    log: (message, err) => app.log.warn(err, message),
  }).attach(app);
  const url = await listen(app, config.port, config.host);
  return {
    url,
    app,
    close: async () => {
      await app.close();
      await apollo.stop();
    },
  };
}
