// The view layer: Preact's `h` bound to htm's tagged templates (what `htm/preact` does, without
// its bare `"preact"` import, which a page without an import map cannot resolve), and the
// hooks, so pages import everything from here.
import { h, render, Fragment } from '../vendor/preact/preact.mjs';
import htm from '../vendor/htm/htm.mjs';

export { h, render, Fragment };
export {
  useState, useEffect, useLayoutEffect, useRef, useMemo, useCallback, useReducer,
} from '../vendor/preact/hooks.mjs';
export const html = htm.bind(h);
