/**
 * `node --import ./scripts/ts/register.mjs file.ts`: runs the repository's TypeScript (hooks.mjs),
 * with stack traces mapped back to the sources.
 */
import { register } from 'node:module';

process.setSourceMapsEnabled(true);
register('./hooks.mjs', import.meta.url);
