"""A real recorder's run holding what every card of the tab shows: a relation probe, predictions and
neuron records, on a tiny GPT-2 built from a config (no download); its weights move between steps."""


def write_cards_run(path, steps=(0, 5, 10)):
    import torch

    import model_zoo
    from tb_attention_plugin import AttentionRecorder

    model, tok, _ = model_zoo.build("gpt2")
    probe = {"text": "the cat is very sad because it could not find food to eat", "relations": [("it", "cat", "coref")]}
    rec = AttentionRecorder(
        model,
        tok,
        [probe],
        path,
        names=["sad"],
        induction_probe=False,
        predictions=3,
        neurons={"heads": [(0, 1), (1, 3)]},
    )
    for step in steps:
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        rec.snapshot(step)
    rec.close()
    return path
