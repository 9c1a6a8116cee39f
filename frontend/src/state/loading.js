// Loading what the views read from the state: the index (polled by the App), the stats of the
// selected series and of the compare run, and the run's scalars. Answers that arrive for a
// selection that has changed since are dropped.

import { stepsOf, seriesOf } from './selection.js';

export class Loader {
  /**
   * @param {{data: object, getState: () => object, set: (patch: object) => void,
   *          status: (text: string, isError?: boolean) => void,
   *          unreachable: (message: string) => void, pollMs: number}} inputs
   */
  constructor({ data, getState, set, status, unreachable, pollMs }) {
    Object.assign(this, { data, getState, set, status, unreachable, pollMs });
    this.indexText = null;
    this.scalarsText = null;
  }

  async refreshIndex() {
    let index;
    try {
      index = await this.data.api.index();
    } catch (e) {
      this.status(`could not load the index: ${e.message} (retrying every ${Math.round(this.pollMs / 1000)} s)`, true);
      if (!this.getState().index) this.unreachable(`Could not reach the attention plugin: ${e.message}`);
      return;
    }
    const text = JSON.stringify(index);
    this.status(`updated ${new Date().toLocaleTimeString()}`);
    if (text !== this.indexText) {
      this.indexText = text;
      this.set({ index });
    }
    // live runs: scalars change even when no snapshot was added
    if (this.getState().run) this.loadScalars(true);
  }

  loadStats() {
    const s = this.getState();
    if (!s.run || !s.probe || !s.kind) return;
    const want = JSON.stringify([s.run, s.probe, s.kind]);
    this.data.statsFor(seriesOf(s), stepsOf(s)).then(
      (stats) => {
        const t = this.getState();
        if (JSON.stringify([t.run, t.probe, t.kind]) === want && t.stats !== stats) this.set({ stats });
      },
      (e) => this.status(`could not load statistics: ${e.message}`, true),
    );
    if (s.compareRun) {
      const cwant = JSON.stringify([s.compareRun, s.probe, s.kind]);
      this.data.statsFor(seriesOf(s, s.compareRun), stepsOf(s, s.compareRun)).then(
        (stats) => {
          const t = this.getState();
          if (JSON.stringify([t.compareRun, t.probe, t.kind]) === cwant && t.compareStats !== stats)
            this.set({ compareStats: stats });
        },
        () => {},
      );
    }
  }

  /** The run's relations (./relations), re-asked when the run logs new steps; `{run, error}` on failure. */
  loadRelations() {
    const s = this.getState();
    if (!s.run) return;
    const run = s.run;
    const kinds = (s.index?.runs?.find((r) => r.run === run)?.probes || []).flatMap((p) => p.kinds);
    const sig = kinds.map((k) => k.steps.length + ':' + k.steps.at(-1)).join(',');
    this.data.relations(run, sig).then(
      (answer) => {
        const t = this.getState();
        const relations = { run, ...answer };
        const same = t.relations && !t.relations.error && t.relations.data === relations.data;
        if (t.run === run && !same) this.set({ relations });
      },
      (error) => {
        if (this.getState().run === run) this.set({ relations: { run, error } });
      },
    );
  }

  loadScalars(refresh = false) {
    const run = this.getState().run;
    if (!run) return;
    this.data.scalars(run, refresh ? 25000 : Infinity).then(
      (scalars) => {
        if (this.getState().run !== run) return;
        const text = JSON.stringify(scalars);
        if (text === this.scalarsText && this.getState().scalars) return;
        this.scalarsText = text;
        this.set({ scalars });
      },
      (e) => {
        if (this.getState().run === run) {
          this.set({ scalars: { run, tags: {} } });
          this.status(`could not load scalars: ${e.message}`, true);
        }
      },
    );
  }
}
