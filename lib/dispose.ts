/**
 * Resources that close are AsyncDisposable too, so callers may write `await using stores = ...`
 * and have them closed however the block is left.
 */
export interface Closable extends AsyncDisposable {
  close(): Promise<void>;
}

/** `resource` with `[Symbol.asyncDispose]` calling its `close()`. */
export function closable<T extends { close(): Promise<void> }>(resource: T): T & Closable {
  return Object.assign(resource, { [Symbol.asyncDispose]: () => resource.close() });
}
