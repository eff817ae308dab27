/**
 * Module hooks that run the repository's TypeScript as it is (registered by ./register.mjs):
 * `.ts` files are compiled by esbuild, type annotations stripped, one file at a time, with an
 * inline source map; relative `.js` specifiers resolve to the `.ts` file beside them (NodeNext
 * style). What tsx does for us, but without esbuild's `keepNames`, which tsx always turns on: it
 * wraps every named function expression in a `__name(fn, "name")` call, an
 * `Object.defineProperty` that gives each closure created at run time its own property
 * dictionary. Measured on node 20: about 170 bytes more heap and 0.8 µs more CPU per closure
 * created; live subscriptions hold several each (bench:fanout's heap per subscription).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

const TS = /\.[cm]?ts$/;

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    // `./x.js` written for NodeNext resolution: the source is `./x.ts`.
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !/^\.{1,2}\/|^file:/.test(specifier) || !/\.[cm]?js$/.test(specifier)) throw err;
    return nextResolve(specifier.replace(/js$/, 'ts'), context);
  }
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || url.includes('/node_modules/')) return nextLoad(url, context);
  const path = fileURLToPath(url);
  if (!TS.test(path)) return nextLoad(url, context);
  const source = await readFile(path, 'utf8');
  const { code } = await transform(source, {
    loader: 'ts',
    format: 'esm',
    target: `node${process.versions.node}`,
    sourcemap: 'inline',
    sourcefile: path,
    // The repository's settings that change emitted code (tsconfig.json: ES2022 class fields,
    // verbatimModuleSyntax).
    tsconfigRaw: { compilerOptions: { target: 'ES2022', useDefineForClassFields: true, verbatimModuleSyntax: true } },
  });
  return { format: path.endsWith('.cts') ? 'commonjs' : 'module', source: code, shortCircuit: true };
}
