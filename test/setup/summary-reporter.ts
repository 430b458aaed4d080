import type { Reporter, TestModule } from 'vitest/node';

/** Ends the run with the plain line CI reads: "Tests: N passed, N failed[, N skipped]". */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>) {
    const counts = { passed: 0, failed: 0, skipped: 0, pending: 0 };
    for (const m of modules) for (const test of m.children.allTests()) counts[test.result().state] += 1;
    // A file that failed to load has no tests but is a failure all the same.
    const brokenFiles = modules.filter((m) => m.state() === 'failed' && [...m.children.allTests()].length === 0).length;
    const skipped = counts.skipped + counts.pending;
    console.log(`\nTests: ${counts.passed} passed, ${counts.failed + brokenFiles} failed${skipped ? `, ${skipped} skipped` : ''}`);
  }
}
