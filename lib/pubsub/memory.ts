import { EventEmitter } from 'node:events';
import { profileUpdatedTopic } from './port.js';
import type { ProfileUpdated, PubSub, Unsubscribe } from './port.js';

export class MemoryPubSub<M = ProfileUpdated> implements PubSub<M> {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  /** `topicOf`: the topic of a message (a user's, for ProfileUpdated). */
  private readonly topicOf: (message: M) => string;

  /** `topicOf` may be left out only for ProfileUpdated messages (a topic per user). */
  constructor(...[topicOf]: [M] extends [ProfileUpdated] ? [topicOf?: (message: M) => string] : [topicOf: (message: M) => string]) {
    this.topicOf = topicOf ?? (profileUpdatedTopic as unknown as (message: M) => string);
  }

  async publish(message: M): Promise<void> {
    this.emitter.emit(this.topicOf(message), message);
  }

  async publishMany(messages: readonly M[]): Promise<void> {
    for (const m of messages) this.emitter.emit(this.topicOf(m), m);
  }

  async subscribe(topic: string, listener: (message: M) => void): Promise<Unsubscribe> {
    this.emitter.on(topic, listener);
    return async () => {
      this.emitter.off(topic, listener);
    };
  }

  /** Listeners currently attached (tests check nothing leaks). */
  listenerCount(topic: string): number {
    return this.emitter.listenerCount(topic);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}
