import type { Db } from '../db/knex.ts';
import { activeAssignments } from '../db/queries/assignments.ts';
import { type FeatureRow, listFeatures, withAssignments } from '../db/queries/features.ts';
import { inSnapshot } from '../metrics/queries.ts';
import { type RangeName, windowOf } from '../metrics/ranges.ts';
import { breachesOf, ERROR_RATE_WARNING_PCT } from '../metrics/scores.ts';
import { headlines, uptimeThreshold, withUptime } from '../metrics/summaries.ts';
import { firingByFeature } from '../services/alerts.ts';
import { attentionFirst, matchesSearch } from './attention.ts';

/** The cards always show the last 24 hours in production, whatever range the selected feature's overview shows. */
export const CARDS_RANGE: RangeName = '24h';

/** Cards on one page of the strip: the page's cost does not grow with the number of features. */
export const CARDS_PER_PAGE = 24;

export interface CardsView {
  /** The search: part of a feature's name or display name. */
  q?: string;
  page: number;
  /** The selected feature: its card is shown first when it is not on the page. */
  selected?: FeatureRow;
}

const byDisplayName = (a: FeatureRow, b: FeatureRow) => a.display_name.localeCompare(b.display_name) || a.name.localeCompare(b.name);

/**
 * A page of the feature cards, those that need attention first (a firing alert, a figure over its
 * own threshold, a served model that cannot answer), then by display name. What orders them is read
 * for every matching feature in one aggregate query each (alerts, assignments, headline figures);
 * uptime, the costly figure, only for the cards shown.
 */
export async function featureCards(db: Db, now: Date, view: CardsView) {
  const [features, assignments, firing] = await Promise.all([listFeatures(db), activeAssignments(db), firingByFeature(db)]);
  const matching = features.filter(matchesSearch(view.q)).sort(byDisplayName);
  const { selected } = view;
  const pinnable = selected && selected.archived_at === null ? selected : undefined;
  const listed = pinnable && !matching.some((f) => f.id === pinnable.id) ? [...matching, pinnable] : matching;
  const w = windowOf(CARDS_RANGE, now);
  return inSnapshot(
    db,
    async (s) => {
      const figures = await headlines(
        s,
        'feature',
        listed.map((f) => f.id),
        w,
      );
      // The new fields before the row's: see withAssignments.
      const signed = withAssignments(listed, assignments).map((f) => ({
        alertsFiring: firing.get(f.id) ?? 0,
        breaches: breachesOf(f, figures.get(f.id)!, null),
        ...f,
      }));
      const ranked = attentionFirst(signed.slice(0, matching.length));
      const pages = Math.max(1, Math.ceil(ranked.length / CARDS_PER_PAGE));
      const page = Math.min(view.page, pages);
      const shown = ranked.slice((page - 1) * CARDS_PER_PAGE, page * CARDS_PER_PAGE);
      // The selected feature stays in sight: its card comes first when the page does not hold it.
      const pinned = pinnable && !shown.some((f) => f.id === pinnable.id) ? signed.find((f) => f.id === pinnable.id) : undefined;
      const cards = pinned ? [pinned, ...shown] : shown;
      const metrics = await withUptime(s, 'feature', figures, cards.map(uptimeThreshold), w);
      return {
        cards: cards.map((f) => {
          const m = metrics.get(f.id)!;
          return {
            ...f,
            metrics: m,
            errorRateWarning: m.error_rate !== null && m.error_rate > ERROR_RATE_WARNING_PCT,
            pinned: f === pinned,
          };
        }),
        /** How many features match, the page shown and the numbers of its first and last cards. */
        matching: ranked.length,
        page,
        pages,
        first: shown.length ? (page - 1) * CARDS_PER_PAGE + 1 : 0,
        last: (page - 1) * CARDS_PER_PAGE + shown.length,
      };
    },
    'production',
  );
}
export type FeatureCards = Awaited<ReturnType<typeof featureCards>>;
export type FeatureCard = FeatureCards['cards'][number];
