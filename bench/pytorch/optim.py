"""NorMuon and Adam with cautious weight decay, written from docs/record-178.md §5 (single process).

`RecordOptimizers(model)` routes the parameters by label as the record does; `step(step, lr_mult,
momentum)` runs NorMuon every step and Adam on odd steps (on the gradient summed over the two
steps), as the training loop of the record.
"""
import math

import torch

PE_COEFFS = [
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
]


def polar_express(G):
    """Orthogonalises the last two axes of G (§5 NorMuon step 3), batched over any leading axes."""
    X = G
    tall = X.shape[-2] > X.shape[-1]
    if tall:
        X = X.transpose(-2, -1)
    X = X / (torch.linalg.matrix_norm(X, keepdim=True) * 1.02 + 1e-6)
    for a, b, c in PE_COEFFS:
        A = X @ X.transpose(-2, -1)
        B = b * A + c * A @ A
        X = a * X + B @ X
    return X.transpose(-2, -1) if tall else X


class NorMuonParam:
    """NorMuon state of one parameter: the momentum buffer and the per-row second moment."""

    def __init__(self, shape, lr, weight_decay, beta2, lr_mul=1.0, wd_mul=1.0, four_blocks=False, dtype=torch.float32,
                 device=None, pe_dtype=None):
        self.shape, self.lr, self.wd, self.beta2, self.lr_mul, self.wd_mul = tuple(shape), lr, weight_decay, beta2, lr_mul, wd_mul
        self.four_blocks = four_blocks
        self.pe_dtype = pe_dtype
        R, C = self.shape
        self.blocks = (4, R // 4, C) if four_blocks else (1, R, C)
        self.buf = torch.zeros(self.shape, dtype=dtype, device=device)
        self.s2 = torch.zeros(self.blocks[0], self.blocks[1], dtype=torch.float32 if dtype != torch.float64 else dtype, device=device)
        self.shape_mult = math.sqrt(max(1.0, R / C))

    @torch.no_grad()
    def step(self, p, g, momentum, lr_mult=1.0):
        m = momentum
        self.buf.mul_(m).add_(g.to(self.buf.dtype), alpha=1 - m)
        u = (1 - m) * g.to(self.buf.dtype) + m * self.buf
        v = u.reshape(self.blocks)
        if self.pe_dtype is not None:
            v = polar_express(v.to(self.pe_dtype)).to(self.s2.dtype)
        else:
            v = polar_express(v.to(self.s2.dtype))
        mu = v.square().mean(-1)                                 # [B, R]
        cols = v.shape[-1]
        n = (mu * cols).sum(-1, keepdim=True).sqrt()
        self.s2.add_((1 - self.beta2) * (mu - self.s2))
        r = torch.rsqrt(self.s2.clamp_min(1e-10))
        n2 = (mu * cols * r.square()).sum(-1, keepdim=True).sqrt()
        v = v * (r * n / n2.clamp_min(1e-10))[..., None]
        v = v.reshape(self.shape).to(p.dtype)
        lr = self.lr * lr_mult
        lr_eff = lr * self.lr_mul * self.shape_mult
        decay = self.wd * self.wd_mul * lr * lr_eff
        mask = (v * p >= 0).to(p.dtype)
        p.sub_(p * mask * decay + v * lr_eff)


class AdamParam:
    """Adam with the cautious weight decay of §5 (mask u·p > 0 when strict, ≥ otherwise)."""

    def __init__(self, shape, lr, betas, eps, weight_decay, wd_mul=1.0, lr_mul=1.0, strict=True, dtype=torch.float32, device=None):
        self.lr, self.b1, self.b2, self.eps, self.wd, self.wd_mul, self.lr_mul, self.strict = lr, *betas, eps, weight_decay, wd_mul, lr_mul, strict
        self.m = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.t = 0

    @torch.no_grad()
    def step(self, p, g, lr_mult=1.0):
        self.t += 1
        g = g.to(self.m.dtype)
        self.m.mul_(self.b1).add_(g, alpha=1 - self.b1)
        self.v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
        lr = self.lr * self.lr_mul * lr_mult
        u = self.m / (self.v.sqrt() + self.eps) * (lr * math.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t))
        u = u.to(p.dtype)
        mask = ((u * p > 0) if self.strict else (u * p >= 0)).to(p.dtype)
        u = u + p * mask * (lr * self.wd * self.wd_mul) * lr
        p.sub_(u)


class RecordOptimizers:
    """The record's optimizers over a gpt.GPT: NorMuon (attn, attn_gate, mlp), Adam (the rest), Adam for scalars."""
    LR_MUL = {"smear_gate": 0.01, "value_embed": 75.0, "x0_lambdas": 5.0, "scalars": 5.0}
    WD_MUL = {"smear_gate": 0.0, "x0_lambdas": 0.0, "scalars": 0.0}

    def __init__(self, model, strict_adam=True, pe_dtype=None):
        self.model = model
        self.muon, self.adam = [], []
        for name, p in model.state_dict_names().items():
            label = self.label(name)
            dev = p.device
            if label in ("attn", "attn_gate", "mlp"):
                lr_mul = 2.0 if name.endswith("c_proj") else 1.0
                state = torch.float32 if p.dtype != torch.bfloat16 else torch.bfloat16
                self.muon.append((p, NorMuonParam(p.shape, 0.023, 1.2, 0.95, lr_mul=lr_mul, four_blocks=label == "attn",
                                                  dtype=state, device=dev, pe_dtype=pe_dtype)))
            else:
                betas = (0.9, 0.99) if label == "scalars" else (0.65, 0.95)
                self.adam.append((p, AdamParam(p.shape, 0.008, betas, 1e-8, 0.005, wd_mul=self.WD_MUL.get(label, 1.0),
                                               lr_mul=self.LR_MUL.get(label, 1.0), strict=strict_adam, dtype=p.dtype, device=dev)))

    @staticmethod
    def label(name):
        if name.endswith("attn.qkvo_w"): return "attn"
        if name.endswith("attn_gate.weight"): return "attn_gate"
        if ".mlp." in name: return "mlp"
        if name.startswith("value_embeds"): return "value_embed"
        return {"smear_gate.weight": "smear_gate", "lm_head.weight": "lm_head", "embed.weight": "embed",
                "x0_lambdas": "x0_lambdas", "scalars": "scalars"}[name]

    @torch.no_grad()
    def step(self, step, lr_mult, momentum):
        for p, s in self.muon:
            if p.grad is not None:
                s.step(p, p.grad, momentum, lr_mult)
                p.grad = None
        if step % 2 == 1:   # Adam on odd steps, on the gradient of this step and the one before
            for p, s in self.adam:
                if p.grad is not None:
                    s.step(p, p.grad, lr_mult)
                    p.grad = None
