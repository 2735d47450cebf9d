/**
 * How a page says how many are ahead (issue 8, decision 0013): exactly up to a thousand,
 * beyond that to three significant figures ("about 912,000"). Far back, the last digits are
 * noise: a fan cannot act on them, and a count that flickers by ones as people leave far
 * ahead reads as a glitch. Rounding is monotone, so a rounded count never goes up either.
 */

/**
 * Up to this many ahead, the count is shown exactly.
 *
 * @example
 * const exact = ahead <= EXACT_AHEAD_UP_TO; // the same as !shownAhead(ahead).approximate
 */
export const EXACT_AHEAD_UP_TO = 1_000;
const SIGNIFICANT_FIGURES = 3;

/**
 * A count of places ahead as a page shows it (`shownAhead`).
 *
 * @example
 * const shown: ShownAhead = shownAhead(room.state.ahead ?? 0);
 * label.textContent = shown.approximate ? `about ${shown.value.toLocaleString()}` : String(shown.value);
 */
export interface ShownAhead {
  readonly value: number;
  /** True when `value` is rounded (say "about"). */
  readonly approximate: boolean;
}

/**
 * `ahead` as a page shows it.
 *
 * @example
 * const { value, approximate } = shownAhead(912_345); // { value: 912_000, approximate: true }
 * el.textContent = `${approximate ? 'about ' : ''}${value.toLocaleString()}`;
 */
export function shownAhead(ahead: number): ShownAhead {
  if (!Number.isFinite(ahead) || ahead <= EXACT_AHEAD_UP_TO) return { value: ahead, approximate: false };
  const unit = 10 ** (Math.floor(Math.log10(ahead)) - (SIGNIFICANT_FIGURES - 1));
  return { value: Math.round(ahead / unit) * unit, approximate: true };
}

/**
 * The least count that is shown as `value` (a value `shownAhead` gives): a count below it is
 * shown as less. So the shown figure is behind the truth once the truth is below this.
 *
 * @example
 * lowestShownAs(912_000); // 911_500: 911,500 … 912,499 are all "about 912,000"
 */
export function lowestShownAs(value: number): number {
  if (!Number.isFinite(value) || value <= EXACT_AHEAD_UP_TO) return value;
  const below = value - 1;
  const unit =
    below <= EXACT_AHEAD_UP_TO ? 1 : 10 ** (Math.floor(Math.log10(below)) - (SIGNIFICANT_FIGURES - 1));
  return Math.ceil(value - unit / 2);
}
