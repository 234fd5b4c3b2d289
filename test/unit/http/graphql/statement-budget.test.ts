/** StatementBudget: counts statements while an operation runs and refuses the one past the limit with QUERY_TOO_COMPLEX. */
import { describe, expect, it } from 'vitest';
import { StatementBudget } from '../../../../src/http/graphql/statement-budget.js';
import { isAppError } from '../../../../src/errors/app-error.js';

describe('StatementBudget', () => {
  it('allows maxStatements statements, then refuses naming the field and the flag', () => {
    const budget = new StatementBudget(2);
    budget.take('rows');
    budget.take('rows');
    let thrown: unknown;
    try {
      budget.take('rawQuery');
    } catch (error) {
      thrown = error;
    }
    expect(isAppError(thrown)).toBe(true);
    expect(thrown).toMatchObject({ code: 'QUERY_TOO_COMPLEX', details: { limit: 'statements', maxStatements: 2, field: 'rawQuery' } });
    expect((thrown as Error).message).toContain('--graphql_max_statements');
    expect(() => budget.take('rows')).toThrow(/more than 2 SQL statements/);
  });
});
