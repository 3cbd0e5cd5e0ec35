/**
 * Statements and round trips to Postgres per enrollment route, counted on the
 * wire (apps/api/bench/count-statements.ts: a relay that reads the protocol).
 * Counts, not timings: they hold on any machine. Issue 24: BEGIN goes out with
 * the transaction's first statement (patches/postgres@3.4.9.patch), so verify
 * and status, each BEGIN + a locking read + a write + COMMIT, take 3 round
 * trips instead of 4; enroll is one statement, its own transaction.
 */
import { describe, expect, it } from 'vitest';
import { countStatements } from '../bench/count-statements.ts';

describe('round trips to Postgres per enrollment route', () => {
  it('enroll 1, verify 3 (BEGIN pipelined), status 3', async () => {
    const counts = await countStatements(5);
    expect(counts).toEqual({
      enroll: { statements: 1, roundTrips: 1 },
      verify: { statements: 4, roundTrips: 3 },
      status: { statements: 4, roundTrips: 3 },
    });
  }, 120_000);
});
