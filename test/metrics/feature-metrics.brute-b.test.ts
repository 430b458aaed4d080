import { describe, it } from 'vitest';
import { DATASETS } from './datasets.ts';
import { runStages, STORY } from './stages.ts';

// The randomized data sets are split over two files so that both test workers share them.
describe('feature, model and provider metrics against brute force over raw rows (day edges, all errors, zero costs, a single event)', () => {
  it.each(DATASETS.filter((d) => [2, 4, 5, 6].includes(d.seed)))(STORY, runStages, 60_000);
});
