// Events on the loss timeline: where head types and relations formed (events.js), drawn as
// triangles along the top of the plot with a thin line down (head types green, relations purple,
// both when a step has both), named in a legend under the chart and in a tooltip on hover.

import { el, clear } from '../../paint/dom.js';
import { eventText, eventNear } from '../../answers/events.js';

export const TYPE_COLOR = '#188038';
export const RELATION_COLOR = '#8430ce';
const LEGEND_ITEMS = 8; // names listed per step in the legend (all in its tooltip)

function colorOf(event) {
  return event.items.some((i) => i.kind === 'relation') ? RELATION_COLOR : TYPE_COLOR;
}

/** A uPlot plugin drawing `getEvents()` ([{step, items}]) and the hover tooltip `tip`. */
export function eventsPlugin(getEvents, tip) {
  return {
    hooks: {
      draw: (u) => {
        const { ctx } = u;
        const { top, height } = u.bbox;
        const dpr = devicePixelRatio || 1;
        ctx.save();
        for (const e of getEvents() || []) {
          const x = Math.round(u.valToPos(e.step, 'x', true));
          ctx.strokeStyle = ctx.fillStyle = colorOf(e);
          ctx.globalAlpha = 0.35;
          ctx.lineWidth = 1 * dpr;
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
          ctx.globalAlpha = 1;
          ctx.beginPath();
          ctx.moveTo(x - 5 * dpr, top + 9 * dpr);
          ctx.lineTo(x + 5 * dpr, top + 9 * dpr);
          ctx.lineTo(x, top + 17 * dpr);
          ctx.fill();
        }
        ctx.restore();
      },
      setCursor: (u) => {
        const left = u.cursor.left;
        const hit = left >= 0 ? eventNear(getEvents() || [], (s) => u.valToPos(s, 'x'), left, 6) : null;
        tip.hidden = !hit;
        if (hit) {
          tip.textContent = eventText(hit);
          tip.style.left = `${Math.round(u.valToPos(hit.step, 'x') + u.over.offsetLeft + 8)}px`;
        }
      },
    },
  };
}

/** The legend: one line per event step, its names (at most LEGEND_ITEMS, the rest counted). */
export function renderEventLegend(node, events, fromStartNote) {
  clear(node);
  node.hidden = !events.length && !fromStartNote;
  for (const e of events) {
    const names = e.items.map((i) => i.text);
    const shown =
      names.slice(0, LEGEND_ITEMS).join(', ') +
      (names.length > LEGEND_ITEMS ? `, +${names.length - LEGEND_ITEMS} more` : '');
    node.append(
      el(
        'span',
        { class: 'tba-event', 'data-testid': 'timeline-event', 'data-step': e.step, title: eventText(e) },
        el('span', { style: { color: colorOf(e) } }, '\u25bc'),
        ` step ${e.step}: ${shown}`,
      ),
    );
  }
  if (fromStartNote) node.append(el('span', { class: 'tba-sub' }, fromStartNote));
}
