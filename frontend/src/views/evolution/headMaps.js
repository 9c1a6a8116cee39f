// The maps of the head evolution card: the selected head's large map at the current step
// (mainMap.js: zoom window, block means or exact weights, hover readout, diff vs a reference step)
// and a filmstrip of it at evenly spaced steps (filmstrip.js). Each loads only the selected head,
// a frame its block means at the frame's size, and shows exactly its want, or the error
// (shown.js). With a compare run, B's large map beside A's and B's filmstrip under A's
// (compareMaps.js). A step at which a storage budget stored no map of the head shows, in the
// large map's place, why and the head's statistics; its filmstrip frame is hatched ("no map"). One
// where it kept a summary instead paints the summary's block means, outlined and labelled "summary".

import { el } from '../../paint/dom.js';
import { poolFor } from '../../paint/gridGeometry.js';
import { evenlySpaced } from '../../answers/stepNav.js';
import { filmstripCount } from '../../paint/layout.js';
import { kindTokens } from '../../answers/model.js';
import { kindInfo, probeInfo, stepsOf, diffRefStep } from '../../state/selection.js';
import { want, failureText } from '../../state/shown.js';
import { paintWindow } from './bigMap.js';
import { MainMap } from './mainMap.js';
import { Filmstrip, FRAME_PX } from './filmstrip.js';
import { CompareMaps } from './compareMaps.js';
import { requestPair, noMapOf, meansPair } from './headPairs.js';
import { noMapTitle } from '../common/noMapNote.js';
import { summaryText } from '../../answers/summaries.js';
import { pairShows } from '../../answers/storage.js';

/**
 * Inputs: `data` (DataSource), the actions `setStep`, `setWindow(win)` and `onMatch()` (B's head
 * matched to A's selected head changed: `match`); renderMain(state) (A's large map: with the grid),
 * render(state) (the filmstrips and B's maps: after it), width (set by the card).
 */
export class HeadMaps {
  constructor({ data, setStep, setWindow, onMatch = () => {} }) {
    Object.assign(this, { data, setStep });
    this.state = null;
    this.width = 800;
    this.main = new MainMap({ data, setWindow });
    this.film = new Filmstrip({ testid: 'filmstrip', setStep });
    this.filmError = el('div', { class: 'tba-message error', 'data-testid': 'filmstrip-error', hidden: true });
    this.b = new CompareMaps({
      data,
      setStep,
      setWindow,
      onMatch,
      frameSteps: () => this.film.frames.map((f) => f.step),
      geometry: () => this.main.geom,
    });
    this.el = el(
      'div',
      { class: 'tba-evo-row' },
      this.main.el,
      this.b.big.el,
      el(
        'div',
        { class: 'tba-film-wrap' },
        el('div', { class: 'tba-sub' }, 'filmstrip \u00b7 click a frame to go to its step'),
        this.film.el,
        this.filmError,
        this.b.filmWrap,
      ),
    );
  }

  /** B's head shown for A's selected head: {layer, head, score} | null. */
  get match() {
    return this.b.match;
  }

  /** A's large map of `state` (its request goes out with the grid's). */
  renderMain(state) {
    this.main.render(state);
  }

  /** The selected head at `step` (and the diff reference) in block means at a frame's size. */
  frameWant(step) {
    const s = this.state;
    const { query, key } = kindTokens(probeInfo(s), kindInfo(s));
    const pool = poolFor(Math.max(query.tokens.length, key.tokens.length), FRAME_PX * (window.devicePixelRatio || 1));
    const ref = s.diffMode ? diffRefStep(s) : null;
    return want({ run: s.run, probe: s.probe, kind: s.kind, step, layer: s.layer, head: s.head, ref, pool });
  }

  /** One filmstrip frame: its step's map, or blank and marked failed (the reason in its tooltip). */
  renderFrame(fr) {
    const s = this.state;
    const px = Math.round(FRAME_PX * (window.devicePixelRatio || 1));
    const shows = (pair) => pairShows(pair, s.layer, s.head);
    const paint = (canvas, pair) =>
      paintWindow(canvas, shows(pair) === 'summary' ? meansPair(pair) : pair, px, s.contrast, null, s.layer, s.head);
    const mixed = `L${s.layer} H${s.head}: a summary at one step and the map at the other: no difference to show`;
    const noMap = (pair) => noMapOf(s, pair).map(noMapTitle).join('\n') || (shows(pair) === 'mixed' ? mixed : null);
    const summary = (pair) =>
      shows(pair) === 'summary'
        ? `L${s.layer} H${s.head}: ${summaryText(pair.sum.step, pair.sum.topK)} (its block means)`
        : null;
    this.film.renderFrame(fr, { paint, noMap, summary, errorTitle: (t) => `${t.title}: ${t.reason}` });
    const frames = this.film.frames;
    const failed = frames.filter((x) => x.f.dataset.state === 'error');
    if (failed.length) {
      const t = failureText(failed[0].want, failed[0].slot.last.error);
      this.filmError.textContent = `${failed.length} of ${frames.length} frames could not be loaded (\u2715): ${t.reason}`;
    }
    this.filmError.hidden = !failed.length;
  }

  /** Nothing to show (no kind, no steps or no step): no frames. */
  renderEmpty() {
    this.film.reset();
    this.filmError.hidden = true;
    this.b.render(this.state);
  }

  /** Filmstrip frames of `state`, then B's maps. */
  render(state) {
    this.state = state;
    const s = state;
    const steps = stepsOf(s);
    if (!kindInfo(s) || !steps.length || s.step === null) {
      this.renderEmpty();
      return;
    }
    const filmWidth = this.width - this.main.px - 30 - (s.compareRun ? this.main.px + 14 : 0); // B's map: a column
    const frames = evenlySpaced(steps, filmstripCount(Math.max(200, filmWidth)));
    this.film.build(frames, JSON.stringify([frames, { run: s.run, probe: s.probe, kind: s.kind }]));
    this.film.markCurrent(s.step);
    this.b.render(s);
    for (const fr of this.film.frames) {
      fr.want = this.frameWant(fr.step);
      const done = requestPair(this.data, fr.slot, fr.want);
      this.renderFrame(fr);
      done.then((current) => current && this.renderFrame(fr));
    }
  }
}
