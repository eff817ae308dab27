import { EventEmitter } from 'node:events';
import type { ProfilePubSub, ProfileUpdated, Unsubscribe } from './port.js';

export class MemoryPubSub implements ProfilePubSub {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  async publish(message: ProfileUpdated): Promise<void> {
    this.emitter.emit(message.userId, message);
  }

  async subscribe(userId: string, listener: (message: ProfileUpdated) => void): Promise<Unsubscribe> {
    this.emitter.on(userId, listener);
    return async () => {
      this.emitter.off(userId, listener);
    };
  }

  /** Listeners currently attached (tests check nothing leaks). */
  listenerCount(userId: string): number {
    return this.emitter.listenerCount(userId);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}
