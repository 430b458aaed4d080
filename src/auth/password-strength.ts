import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as en from '@zxcvbn-ts/language-en';

/** zxcvbn's scale is 0–4; 3 is "safely unguessable: moderate protection from offline slow-hash scenario" (≥ 10^8 guesses). */
export const MIN_PASSWORD_SCORE = 3;

// The dictionaries (common passwords, names, English words, keyboard layouts) ship in the packages:
// nothing is fetched. Built on first use, since loading them takes a few hundred milliseconds.
let estimator: ZxcvbnFactory | undefined;
const zxcvbn = () =>
  (estimator ??= new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...en.dictionary },
    graphs: common.adjacencyGraphs,
    translations: en.translations,
  }));

/**
 * Why a password is too easy to guess, in the estimator's words, or null when it is strong enough.
 * `related` are words an attacker would try first for this account (its email and its parts).
 */
export function passwordWeakness(password: string, related: readonly string[] = []): string | null {
  const inputs = related.flatMap((r) => [r, ...r.split(/[@.+_-]+/)]).filter((w) => w.length >= 3);
  const { score, feedback } = zxcvbn().check(password, inputs);
  if (score >= MIN_PASSWORD_SCORE) return null;
  const advice = [feedback.warning, ...feedback.suggestions].filter(Boolean).join(' ');
  return `is too easy to guess${advice ? `: ${advice}` : ''}`;
}
