/**
 * Hive Gateway's configuration for bench:gateway (its CLI loads gateway.config.* from the working
 * directory, which start.mjs sets to this folder). The platform's subgraphs accept only callers the
 * gateway vouched for (the x-gateway-identity token, lib/auth.ts); the load generator sends Hive
 * the token our gateway would mint for the benchmark's service JWT, and Hive passes it on.
 */
export const gatewayConfig = {
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => {
      const identity = request.headers.get('x-gateway-identity');
      return identity ? { 'x-gateway-identity': identity } : {};
    },
  },
};
