// The tab's keyboard: ←/→ step by one snapshot, Home/End go to the first/last, space plays.

/** The action of a keydown event ('prev'|'next'|'first'|'last'|'play'), or null (not ours). */
export function keyAction(e) {
  const t = e.target;
  // keys belong to widgets that use them (selects, text fields); checkboxes and buttons don't
  const typing =
    t &&
    (t.tagName === 'SELECT' ||
      t.tagName === 'TEXTAREA' ||
      t.isContentEditable ||
      (t.tagName === 'INPUT' && !['checkbox', 'radio', 'button'].includes(t.type)));
  if (typing || e.altKey || e.ctrlKey || e.metaKey) return null;
  if (e.key === 'ArrowRight') return 'next';
  if (e.key === 'ArrowLeft') return 'prev';
  if (e.key === 'Home') return 'first';
  if (e.key === 'End') return 'last';
  if (e.key === ' ' && t?.tagName !== 'BUTTON' && t?.tagName !== 'INPUT') return 'play';
  return null;
}
