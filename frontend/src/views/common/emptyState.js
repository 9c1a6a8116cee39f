// What the tab shows when there is nothing to show yet.
import { el } from '../../paint/dom.js';

const SNIPPET = `from transformers import Trainer, TrainingArguments
from tb_attention_plugin import AttentionCallback

trainer = Trainer(
    model=model,
    args=TrainingArguments(output_dir="out", logging_dir="logs/my-run",
                           report_to=["tensorboard"]),
    train_dataset=train_dataset,
    callbacks=[AttentionCallback(probes=[
        "The cat sat on the mat because it was tired.",
        ("Is this a question?", "Yes, and this is its pair."),
    ])],
)
trainer.train()`;

const WRITER = `from tb_attention_plugin import AttentionSummaryWriter

w = AttentionSummaryWriter("logs/my-run")
w.add_probe("cat", tokens=["[CLS]", "the", "cat", "[SEP]"], special=[1, 0, 0, 1])
w.add_attention(step, "cat", attentions)   # numpy [layers, heads, query, key]`;

export function emptyState() {
  return el(
    'div',
    { class: 'tba-empty', 'data-testid': 'empty-state' },
    el('h2', {}, 'No attention logs yet'),
    el(
      'p',
      {},
      'None of the runs in this log directory holds attention snapshots. Add the callback to your Hugging Face Trainer: it records the attention of a few fixed probe sentences at regular steps, and this tab shows the heads forming.',
    ),
    el('pre', {}, el('code', {}, SNIPPET)),
    el('p', {}, 'Not using the Trainer? Write snapshots yourself:'),
    el('pre', {}, el('code', {}, WRITER)),
    el(
      'p',
      {},
      'Then point TensorBoard at the logs (tensorboard --logdir logs). This page checks for new logs every 30 seconds.',
    ),
  );
}

export function message(text, isError = false) {
  return el('div', { class: 'tba-message' + (isError ? ' error' : '') }, text);
}
