"""What each key passes on through a head (Kobayashi et al. 2020): ||W_O^h v_j||.

A head's output at query i is sum_j weight_ij * W_O^h v_j (the value vector of key j through the
head's slice of the output projection), so the weight alone can mislead: a key with a large weight
and a small ||W_O^h v_j|| (often [SEP] or [CLS]) contributes little. The output projection is the
first module with a weight that receives the attention function's output; it is used only if its
own output is exactly that linear map of its input (a LoRA adapter on it, a gate or a norm in
between: no norms, never wrong ones). Checked at every capturing pass.
"""

import torch

# |module output - (input @ W^T + b)| allowed, relative to the output's size
PROJECTION_TOLERANCE = 1e-4


class ProjectionWatch:
    """Global module hooks during a capturing pass: the first weight-bearing module called after each
    attention call, with its input and output if its input is that call's output."""

    def __init__(self, calls):
        self.calls = calls
        self.watched = None  # (call, module) whose output is awaited

    def __enter__(self):
        hooks = torch.nn.modules.module
        self.handles = [
            hooks.register_module_forward_pre_hook(self._pre),
            hooks.register_module_forward_hook(self._post),
        ]
        return self

    def __exit__(self, *exc):
        for handle in self.handles:
            handle.remove()
        return False

    def _pre(self, module, args):
        weight = getattr(module, "weight", None)
        if not self.calls or self.calls[-1].projection is not None or not isinstance(weight, torch.Tensor):
            return
        call = self.calls[-1]
        if weight.dim() != 2 or not args or not isinstance(args[0], torch.Tensor):
            return
        x, out = args[0], call.output
        same = x.numel() == out.numel() and x.shape[0] == out.shape[0] and torch.equal(x.reshape(-1), out.reshape(-1))
        call.projection = (module, x) if same else False
        if same:
            self.watched = (call, module)

    def _post(self, module, args, output):
        if self.watched is not None and module is self.watched[1] and isinstance(output, torch.Tensor):
            call = self.watched[0]
            call.projection = call.projection + (output,)
            self.watched = None


@torch.no_grad()
def _effective_weight(module, x, y):
    """W [out, in] such that y = x @ W^T + bias (nn.Linear, or transformers' Conv1D stored [in, out]),
    or None when the module is not that linear map of its input."""
    weight, bias = module.weight, getattr(module, "bias", None)
    x2, y2 = x.reshape(-1, x.shape[-1]).float(), y.reshape(-1, y.shape[-1]).float()
    for w in (weight, weight.T):
        w = w.float()
        if w.shape != (y2.shape[-1], x2.shape[-1]):
            continue
        expected = x2 @ w.T + (bias.float() if isinstance(bias, torch.Tensor) else 0)
        if float((expected - y2).abs().max()) <= PROJECTION_TOLERANCE * max(1.0, float(y2.abs().max())):
            return w
    return None


@torch.no_grad()
def layer_value_norms(call, b, heads, keys):
    """{head: float32 [K] numpy of ||W_O^h v_j||} of one probe (batch row b), or None when the
    layer's output projection could not be found or is not a plain linear map."""
    if not heads or not call.projection or len(call.projection) != 3:
        return None
    if call.projection_weight is None:  # checked once per call, for every probe of the batch
        module, x, y = call.projection
        call.projection_weight = _effective_weight(module, x, y)
        if call.projection_weight is None:
            call.projection = False
            return None
    weight, value = call.projection_weight, call.value
    n_heads, n_kv, dim = call.query.shape[1], value.shape[1], value.shape[-1]
    if weight.shape[1] != n_heads * dim:
        return None
    index = torch.tensor(heads, device=value.device)
    values = value[b, index // (n_heads // n_kv), :keys].float()  # [n, K, D]
    slices = weight.reshape(weight.shape[0], n_heads, dim)[:, index]  # [hidden, n, D]
    norms = torch.einsum("nkd,ond->nko", values, slices).norm(dim=-1).cpu().numpy()  # [n, K]
    return dict(zip(heads, norms))
