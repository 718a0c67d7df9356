// What an agent is told about a verdict may be read by its model (a tool host relays a refusal
// into the error result its caller reads). docs/design.md §15: no verdict detail carries hidden text in a
// form a model reads but a person does not see. visibleDetail() replaces every run of invisible
// characters — format characters (bidi controls, zero-width, tag characters), controls, private
// use, unassigned code points, lone surrogates, variation selectors, line and paragraph
// separators — with a count, so nothing such a run spells is passed on.

const HIDDEN = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}\p{Variation_Selector}]+/gu;

/** `s` with each run of invisible characters replaced by `[N hidden characters]`. */
export function visibleDetail(s: string): string {
  HIDDEN.lastIndex = 0;
  if (!HIDDEN.test(s)) return s;
  return s.replace(HIDDEN, (run) => {
    const n = [...run].length;
    return `[${n} hidden character${n === 1 ? '' : 's'}]`;
  });
}
