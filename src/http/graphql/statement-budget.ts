/**
 * The SQL statements one GraphQL operation may still run
 * (--graphql_max_statements), counted while it runs. Validation
 * (query-limits.ts) refuses operations that would pass the limit as far as
 * the document says; this catches the rest: a statement field below a list
 * that holds more items than validation assumed (`families { rows }` with
 * many families). Every resolver that runs SQL takes one before it does.
 */
import { AppError } from '../../errors/app-error.js';

/** Per-operation statement counter; one per GraphQL request (context.ts). */
export class StatementBudget {
  private used = 0;

  constructor(private readonly maxStatements: number) {}

  /** Counts one statement of `field`; throws QUERY_TOO_COMPLEX past the limit (nothing runs for that field). */
  take(field: string): void {
    this.used += 1;
    if (this.used > this.maxStatements) {
      throw new AppError(
        'QUERY_TOO_COMPLEX',
        `this operation runs more than ${this.maxStatements} SQL statements (--graphql_max_statements): ${field} was not run; ask for fewer list items per operation (for example one family's rows at a time) or split it into several operations`,
        { limit: 'statements', maxStatements: this.maxStatements, field },
      );
    }
  }
}
