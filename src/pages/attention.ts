import type { Breach } from '../metrics/scores.ts';

/** What says whether a feature needs an admin's attention, all cheap to know for every feature. */
export interface AttentionSigns {
  alertsFiring: number;
  breaches: readonly Breach[];
  assignments: Partial<Record<string, { serving_problem: string | null }>>;
}

/** A feature needs attention when an alert fires, a figure is over its own threshold or a served model cannot answer. */
export const needsAttention = (f: AttentionSigns) =>
  f.alertsFiring > 0 || f.breaches.length > 0 || Object.values(f.assignments).some((a) => a?.serving_problem);

/** The features that need attention first (list order kept among equals: sort is stable). */
export const attentionFirst = <T extends AttentionSigns>(rows: T[]) =>
  rows
    .map((r) => ({ r, first: needsAttention(r) ? 0 : 1 }))
    .sort((a, b) => a.first - b.first)
    .map(({ r }) => r);

/** A feature's card or row matches a search when its name or display name contains it, whatever the case. */
export const matchesSearch = (needle: string | undefined) => {
  const n = needle?.toLowerCase();
  return (f: { name: string; display_name: string }) => !n || f.name.toLowerCase().includes(n) || f.display_name.toLowerCase().includes(n);
};
