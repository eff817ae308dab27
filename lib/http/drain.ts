import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * Keep-alive connections must not hold up close(). Node's server.close() only closes connections
 * that are idle at that moment; one that was serving a request stays open after its response
 * (keepAliveTimeout is 65 s), and close() waited for it. While closing, responses therefore carry
 * `Connection: close` (Node then ends the socket after the response), and connections that become
 * idle are closed. New requests on open connections get 503 meanwhile (Fastify's
 * return503OnClosing), new connections are refused once the server stopped listening.
 */
/** Returns what each response does while draining (called from the service's one onSend hook). */
export function drainKeepAliveOnClose(app: FastifyInstance): (req: FastifyRequest, reply: FastifyReply) => void {
  let draining = false;
  const toldToClose = new WeakSet<object>();
  app.addHook('preClose', async () => {
    draining = true;
  });
  app.addHook('onResponse', async (req) => {
    // A response whose headers went out before close() began still said keep-alive.
    if (draining && !toldToClose.has(req)) setImmediate(() => app.server.closeIdleConnections());
  });
  return (req, reply) => {
    if (!draining) return;
    reply.header('connection', 'close');
    toldToClose.add(req);
  };
}
