/**
 * The background purger: every `intervalSeconds`, in every gateway process,
 * applies each family's retention policy (purge events ingested before
 * now - retention, with now from the injected clock) and expires old
 * Idempotency-Keys on every shard.
 *
 * Several processes run it against the same shards. A lease row in the
 * catalog (`purge:<family>`, `purge-idempotency:<shard>`) makes sure only one
 * process purges a given family at a time: a process that cannot take the
 * lease skips that family this round and moves on to the next, so processes
 * share the work. The lease is renewed before every batch and released at
 * the end; a crashed holder's lease expires after `leaseTtlMs`. Process
 * memory is never the lock. Owns scheduling only; the deleting is
 * RetentionService's.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../logging/logger.js';
import { isAppError } from '../errors/app-error.js';
import type { ShardManager } from '../shards/shard-manager.js';
import type { Catalog } from '../shards/catalog.js';
import type { Placement } from '../shards/catalog.js';
import { policyCutoff, type PurgeOutcome, type RetentionService } from './retention-service.js';
import type { Clock } from './clock.js';

/** What the purger reports, one event per family and round (tests and tools may listen). */
export type PurgerEvent =
  | {
      /** The family was purged under this process's lease (possibly 0 rows). */
      type: 'purged';
      family: string;
      holder: string;
      /** Wall-clock ms (Date.now) right after the lease was taken and right before it was released. */
      leasedAt: number;
      releasedAt: number;
      outcome: PurgeOutcome;
    }
  | {
      /** Another process holds the family's lease, or the family is moving: skipped this round. */
      type: 'busy';
      family: string;
      holder: string;
      at: number;
    }
  | {
      /** The purge of the family failed (shard down, ...): logged and retried next round. */
      type: 'failed';
      family: string;
      holder: string;
      at: number;
      error: unknown;
    };

/** Settings of the purger. */
export interface PurgerOptions {
  retention: RetentionService;
  manager: ShardManager;
  /** Leases keep each purge to one process at a time. */
  catalog: Catalog;
  logger: Logger;
  clock: Clock;
  /** Seconds between the end of one round and the start of the next (config.retention.purgeIntervalSeconds, > 0). */
  intervalSeconds: number;
  /** Lease time to live, ms; renewed before every batch, so it only has to outlast one batch. Default 60000. */
  leaseTtlMs?: number;
  /** This process's lease holder id; default `<hostname>:<pid>:<random>`. */
  holder?: string;
}

/** Runs retention purges on a timer; see the module header. */
export class Purger {
  readonly holder: string;
  private readonly options: PurgerOptions;
  private readonly leaseTtlMs: number;
  private readonly listeners = new Set<(event: PurgerEvent) => void>();
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private started = false;
  /** Rounds run one after another in this process: the tail of that chain. */
  private chain: Promise<void> = Promise.resolve();

  constructor(options: PurgerOptions) {
    this.options = options;
    this.leaseTtlMs = options.leaseTtlMs ?? 60_000;
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  }

  /** Schedules the first round `intervalSeconds` from now, then one round per interval after each round ends. */
  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    this.options.logger.info({ intervalSeconds: this.options.intervalSeconds, holder: this.holder }, 'retention purger started');
    this.schedule();
  }

  /**
   * Stops the timer and waits for a running round to finish its current
   * batch (the round stops there; leases are released). Idempotent.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.chain;
  }

  /** Adds a listener for purger events; returns the function that removes it. */
  subscribe(listener: (event: PurgerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Runs one round now (after any round already running in this process)
   * and resolves when it is done. Never rejects: failures are logged per
   * family and retried next round.
   */
  runOnce(): Promise<void> {
    const round = this.chain.then(() => this.round());
    this.chain = round;
    return round;
  }

  private schedule(): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runOnce().then(() => this.schedule());
    }, this.options.intervalSeconds * 1000);
    this.timer.unref();
  }

  private emit(event: PurgerEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.options.logger.warn({ err: error }, 'purger listener failed');
      }
    }
  }

  private async round(): Promise<void> {
    if (this.stopping) return;
    const { manager, logger } = this.options;
    let placements: Placement[];
    try {
      placements = await manager.listPlacements();
    } catch (error) {
      logger.warn({ err: error }, 'retention purger: catalog unreachable, retrying next round');
      return;
    }
    for (const placement of placements) {
      if (this.stopping) return;
      if (placement.retentionSeconds === null) continue;
      await this.purgeFamily(placement.family, placement.retentionSeconds);
    }
    for (const pool of manager.shards) {
      if (this.stopping) return;
      await this.purgeIdempotency(pool.id);
    }
  }

  /** Renews `lease`; false when this process no longer holds it or is stopping. */
  private keepLease(lease: string): () => Promise<boolean> {
    return async () => {
      if (this.stopping) return false;
      const held = await this.options.catalog.tryLease(lease, this.holder, this.leaseTtlMs);
      if (!held) this.options.logger.warn({ lease, holder: this.holder }, 'retention purger lost its lease; stopping this purge');
      return held;
    };
  }

  private async purgeFamily(family: string, retentionSeconds: number): Promise<void> {
    const { manager, retention, logger, clock } = this.options;
    const lease = `purge:${family}`;
    try {
      if (!(await this.options.catalog.tryLease(lease, this.holder, this.leaseTtlMs))) {
        logger.debug({ family, holder: this.holder }, 'retention purge skipped: another process holds the lease');
        this.emit({ type: 'busy', family, holder: this.holder, at: Date.now() });
        return;
      }
    } catch (error) {
      logger.warn({ err: error, family }, 'retention purger: cannot take the lease, retrying next round');
      this.emit({ type: 'failed', family, holder: this.holder, at: Date.now(), error });
      return;
    }
    const leasedAt = Date.now();
    try {
      const cutoff = policyCutoff(clock(), retentionSeconds);
      if (cutoff === undefined) return;
      const outcome = await retention.purgeBefore(family, cutoff, { trigger: 'policy', continueBatch: this.keepLease(lease) });
      this.emit({ type: 'purged', family, holder: this.holder, leasedAt, releasedAt: Date.now(), outcome });
    } catch (error) {
      if (isAppError(error) && error.code === 'FAMILY_MOVING') {
        // Not a failure: its purges wait for the move, and the next round after it catches up.
        logger.info({ family }, 'retention purge skipped: the family is moving');
        this.emit({ type: 'busy', family, holder: this.holder, at: Date.now() });
        return;
      }
      logger.warn({ err: error, family }, 'retention purge failed, retrying next round');
      this.emit({ type: 'failed', family, holder: this.holder, at: Date.now(), error });
    } finally {
      await this.options.catalog.releaseLease(lease, this.holder).catch((error: unknown) => {
        logger.warn({ err: error, lease }, 'retention purger: lease release failed; it expires by itself');
      });
    }
  }

  private async purgeIdempotency(shard: string): Promise<void> {
    const { manager, retention, logger } = this.options;
    const lease = `purge-idempotency:${shard}`;
    try {
      if (!(await this.options.catalog.tryLease(lease, this.holder, this.leaseTtlMs))) return;
    } catch (error) {
      logger.warn({ err: error, shard }, 'retention purger: cannot take the lease, retrying next round');
      return;
    }
    try {
      await retention.purgeExpiredIdempotencyKeys(shard, this.keepLease(lease));
    } catch (error) {
      logger.warn({ err: error, shard }, 'expiring idempotency keys failed, retrying next round');
    } finally {
      await this.options.catalog.releaseLease(lease, this.holder).catch(() => undefined);
    }
  }
}
