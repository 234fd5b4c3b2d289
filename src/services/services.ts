/**
 * The set of use cases the transports (REST and GraphQL) share. Created once
 * per app by app.ts; neither transport builds its own.
 */
import type { IngestService } from './ingest-service.js';
import type { QueryService } from './query-service.js';
import type { DescribeService } from './describe-service.js';
import type { HealthService } from './health-service.js';
import type { RetentionService } from './retention-service.js';
import type { FamilyService } from './family-service.js';
import type { AccessService } from './access-service.js';
import type { OsqueryService } from './osquery-service.js';
import type { MoveService } from './move-service.js';

/** Every service a transport may call. */
export interface Services {
  ingest: IngestService;
  query: QueryService;
  describe: DescribeService;
  health: HealthService;
  retention: RetentionService;
  family: FamilyService;
  /** osquery's TLS API, shipped osquery results and schemaless JSON logs. */
  osquery: OsqueryService;
  /** Moving families between shards, and rebalancing. */
  moves: MoveService;
  /** Who a request is and what it may do (access control; everything when off). */
  access: AccessService;
}
