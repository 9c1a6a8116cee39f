import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keyAction } from '../src/state/keys.js';

const key = (k, target = { tagName: 'BODY' }, mods = {}) => keyAction({ key: k, target, ...mods });

test('arrows, Home/End and space', () => {
  assert.equal(key('ArrowRight'), 'next');
  assert.equal(key('ArrowLeft'), 'prev');
  assert.equal(key('Home'), 'first');
  assert.equal(key('End'), 'last');
  assert.equal(key(' '), 'play');
  assert.equal(key('a'), null);
});

test('keys of widgets that use them, and modified keys, are not ours', () => {
  assert.equal(key('ArrowRight', { tagName: 'SELECT' }), null);
  assert.equal(key('ArrowRight', { tagName: 'TEXTAREA' }), null);
  assert.equal(key('ArrowRight', { tagName: 'INPUT', type: 'text' }), null);
  assert.equal(key('ArrowRight', { tagName: 'DIV', isContentEditable: true }), null);
  assert.equal(key('ArrowRight', { tagName: 'INPUT', type: 'checkbox' }), 'next');
  assert.equal(key('ArrowRight', { tagName: 'BODY' }, { ctrlKey: true }), null);
  assert.equal(key('ArrowLeft', { tagName: 'BODY' }, { altKey: true }), null);
  assert.equal(key('End', { tagName: 'BODY' }, { metaKey: true }), null);
});

test('space on a button or a checkbox presses it, it does not play', () => {
  assert.equal(key(' ', { tagName: 'BUTTON' }), null);
  assert.equal(key(' ', { tagName: 'INPUT', type: 'checkbox' }), null);
});
