import { describe, it } from 'vitest';
import { DATASETS } from './datasets.ts';
import { runStages, STORY } from './stages.ts';

// The randomized data sets are split over two files so that both test workers share them.
describe('feature, model and provider metrics against brute force over raw rows (mixed traffic and many users)', () => {
  it.each(DATASETS.filter((d) => [1, 3].includes(d.seed)))(STORY, runStages, 60_000);
});
