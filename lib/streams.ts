/**
 * Async iterators built from one primitive, @repeaterjs/repeater's Repeater: it settles a pending
 * next() when return() is called, delivers a stop(error) once after the values still buffered and
 * then ends, and runs its executor only once next() is first called. A SlidingBuffer(1) keeps only
 * the newest value for a slow reader.
 */
import { Repeater, SlidingBuffer } from '@repeaterjs/repeater';

/**
 * Reads `source` as fast as it delivers and keeps only the newest value for the reader (latest
 * state wins). return() closes the source at once, also while next() is pending; an error of the
 * source comes after the value still waiting, once, and then the end.
 */
export function latest<T>(source: AsyncIterator<T>): Repeater<T> {
  return buffered(source, 1);
}

/**
 * Reads `source` as fast as it delivers and keeps the newest `size` values for the reader (the
 * oldest are dropped beyond that); otherwise as `latest`.
 */
export function buffered<T>(source: AsyncIterator<T>, size: number): Repeater<T> {
  return new Repeater<T>(async (push, stop) => {
    let ended = false;
    let stopped = false;
    void (async () => {
      try {
        for (let next = await source.next(); !next.done; next = await source.next()) {
          if (stopped) return;
          void push(next.value);
        }
        ended = true;
        stop();
      } catch (error) {
        ended = true;
        stop(error);
      }
    })();
    await stop;
    stopped = true;
    if (!ended) await source.return?.();
  }, new SlidingBuffer(size));
}

/**
 * `step` applied to each value of `source` that the reader asks for (nothing is read ahead); a
 * step that gives `undefined` skips the value. return() closes the source at once, also while the
 * reader waits; an error of the source or of a step is delivered once, after the source is
 * closed (graphql-ws does not call return() when next() throws), and then the end.
 */
export function mapEach<T, R>(source: AsyncIterator<T>, step: (value: T) => Promise<R | undefined> | R | undefined): Repeater<R> {
  return new Repeater<R>(async (push, stop) => {
    let stopped = false;
    // Closing the source ends a wait for its next value.
    void stop
      .then(async () => {
        stopped = true;
        await source.return?.();
      })
      .catch(() => undefined);
    try {
      for (;;) {
        const next = await source.next();
        if (next.done || stopped) return;
        const value = await step(next.value);
        if (stopped) return;
        if (value !== undefined) await push(value);
      }
    } catch (err) {
      // After return() nobody reads it.
      if (stopped) return;
      await source.return?.();
      throw err;
    }
  });
}
