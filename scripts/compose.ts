/**
 * Composes schema/<subgraph>.graphql into schema/supergraph.graphql with @apollo/composition.
 *   npm run compose            write the supergraph
 *   npm run compose -- --check fail when the checked-in supergraph is stale
 */
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { SUBGRAPHS } from '../gateway/src/subgraphs.js';

const schemaDir = new URL('../schema/', import.meta.url);
const supergraphPath = new URL('supergraph.graphql', schemaDir);

export function composeSupergraph(): { sdl?: string; errors: string[] } {
  const files = readdirSync(schemaDir).filter((f) => f.endsWith('.graphql') && f !== 'supergraph.graphql');
  const errors: string[] = [];
  const services = files.map((file) => {
    const name = file.replace(/\.graphql$/, '');
    const known = SUBGRAPHS.find((s) => s.name === name);
    if (!known) errors.push(`schema/${file}: no subgraph named "${name}" in gateway/src/subgraphs.ts`);
    const text = readFileSync(new URL(file, schemaDir), 'utf8');
    try {
      return { name, url: `http://localhost:${known?.defaultPort ?? 0}/graphql`, typeDefs: parse(text) };
    } catch (err) {
      errors.push(`schema/${file}: ${(err as Error).message}`);
      return null;
    }
  });
  if (errors.length > 0) return { errors };
  const result = composeServices(services.filter((s) => s !== null).sort((a, b) => a.name.localeCompare(b.name)));
  if (result.errors) return { errors: result.errors.map((e) => `${e.extensions?.['code'] ?? 'ERROR'}: ${e.message}`) };
  return { sdl: result.supergraphSdl, errors: [] };
}

function main(): void {
  const check = process.argv.includes('--check');
  const { sdl, errors } = composeSupergraph();
  if (!sdl) {
    console.error(`Composition failed with ${errors.length} error(s):\n`);
    for (const e of errors) console.error(`  - ${e}\n`);
    process.exit(1);
  }
  const current = existsSync(supergraphPath) ? readFileSync(supergraphPath, 'utf8') : '';
  if (check) {
    if (current !== sdl) {
      console.error('schema/supergraph.graphql is stale: run `npm run compose` and commit the result.');
      process.exit(1);
    }
    console.log('supergraph is up to date');
    return;
  }
  writeFileSync(supergraphPath, sdl);
  console.log(`wrote schema/supergraph.graphql (${sdl.length} bytes)`);
}

main();
