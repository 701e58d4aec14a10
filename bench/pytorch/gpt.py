"""The record-178 GPT in PyTorch, written from docs/record-178.md, as the reference our Java
trainer races against (bench.py) and is checked with (parity.py).

One micro-batch is a packed 1-D token sequence with document boundaries `cu_seqlens` (§1). The
forward follows §2 step by step; PyTorch's autograd gives the backward. Attention is a
masked softmax (any dtype, any device; used on CPU and for float64 parity) or FlexAttention with
a document + sliding-window block mask (CUDA, compiled), chosen by `attention=`.
"""
import json
import math
import struct

import torch
import torch.nn.functional as F
from torch import nn

SOFTCAP, SOFTCAP_DIV = 30.0, 7.5
# the 11-layer structure of the record (§2): which layers do what
SKIP_IN, SKIP_OUT, BACKOUT, LONG_WINDOW = 3, 6, 7, (3, 10)
VALUE_EMBED = {0: 1, 1: 2, 8: 0, 9: 1, 10: 2}   # layer -> value embedding
NO_ATTENTION = (6,)


class Config:
    def __init__(self, vocab_size=50257, num_layers=11, num_heads=6, head_dim=128, model_dim=768,
                 block_size=128, gate_input_dims=12, world_size=1):
        if num_layers != 11:
            raise ValueError(f"num_layers must be 11 (the record's layer structure), got {num_layers}")
        if num_heads * head_dim != model_dim:
            raise ValueError(f"num_heads x head_dim must equal model_dim: {num_heads} x {head_dim} != {model_dim}")
        self.vocab_size, self.num_layers, self.num_heads, self.head_dim = vocab_size, num_layers, num_heads, head_dim
        self.model_dim, self.block_size, self.gate_input_dims = model_dim, block_size, gate_input_dims
        self.vocab_padded = (vocab_size + 127) // 128 * 128
        self.scalar_pad = (-(3 * num_layers + 3)) % world_size

    @staticmethod
    def record178():
        return Config()

    # indices into `scalars` (§2): resid λ per layer, (qkv scale, out scale) per layer, smear, backout, skip
    def resid(self, i): return i
    def qkv_scale(self, i): return self.num_layers + 2 * i
    def out_scale(self, i): return self.num_layers + 2 * i + 1
    @property
    def smear(self): return 3 * self.num_layers
    @property
    def backout(self): return 3 * self.num_layers + 1
    @property
    def skip(self): return 3 * self.num_layers + 2


def norm(x):
    """RMS norm over the last axis without a weight; eps = machine epsilon of the dtype (§2)."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + torch.finfo(x.dtype).eps)


class Yarn:
    """Rotary frequencies and the attention scale, with the record's YaRN update (§2)."""

    def __init__(self, head_dim, block_size):
        self.head_dim, self.block_size = head_dim, block_size
        self.reset()

    def reset(self):
        q = self.head_dim // 4
        f = [(1 / 1024) ** (j / (q - 1)) for j in range(q)] + [0.0] * q
        self.freq = torch.tensor(f, dtype=torch.float64)
        self.attn_scale = 0.1

    def apply(self, old, new):
        r = self.block_size * old * self.freq / (2 * math.pi)
        s = old / new
        gamma = ((r - 1) / (32 - 1)).clamp(0, 1)
        self.freq = self.freq * (s + gamma * (1 - s))
        self.attn_scale *= 0.2 * math.log(new / old) + 1


def document_ids(cu_seqlens, T, device):
    """Document index of every position from cu_seqlens (padding entries equal to T are ignored)."""
    cu = torch.as_tensor(cu_seqlens, device=device)
    return torch.searchsorted(cu[1:], torch.arange(T, device=device), right=True)


def masked_attention(q, k, v, doc, window, scale):
    """Causal, windowed (keys p-window..p), within-document softmax attention. q, k, v [T, H, D]."""
    T = q.shape[0]
    p = torch.arange(T, device=q.device)
    visible = (doc[:, None] == doc[None, :]) & (p[None, :] <= p[:, None]) & (p[None, :] >= p[:, None] - window)
    s = torch.einsum("phd,jhd->hpj", q, k) * scale
    s = s.masked_fill(~visible[None], float("-inf"))
    return torch.einsum("hpj,jhd->phd", torch.softmax(s, dim=-1), v)


class FlexAttention:
    """FlexAttention (CUDA) with a document + sliding-window block mask per window size.

    `prepare(doc, windows)` builds the block masks of one batch layout outside the compiled model;
    the call then only looks its window up, so the compiled graph sees fixed masks.
    """

    def __init__(self):
        from torch.nn.attention.flex_attention import flex_attention
        self.fn = flex_attention
        self.masks = {}

    def prepare(self, doc, windows):
        from torch.nn.attention.flex_attention import create_block_mask
        T = doc.shape[0]
        self.masks = {}
        for window in windows:
            def mask_mod(b, h, qi, ki, window=window):
                return (doc[qi] == doc[ki]) & (ki <= qi) & (ki >= qi - window)
            self.masks[window] = create_block_mask(mask_mod, None, None, T, T, device=doc.device)

    def __call__(self, q, k, v, doc, window, scale):
        y = self.fn(q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None],
                    block_mask=self.masks[window], scale=scale)
        return y[0].transpose(0, 1)


class FP8Head(torch.autograd.Function):
    """z = x · wᵀ in FP8 (§2 step 5): E4M3 forward with scales x 100/448, w 1.5/448; E5M2 gradient (0.75/448)."""
    X_S, W_S, G_S = 100 / 448, 1.5 / 448, 0.75 / 448

    @staticmethod
    def forward(ctx, x, w):
        xs = torch.tensor(FP8Head.X_S, device=x.device, dtype=torch.float32)
        ws = torch.tensor(FP8Head.W_S, device=x.device, dtype=torch.float32)
        x8 = (x / FP8Head.X_S).to(torch.float8_e4m3fn)
        w8 = (w / FP8Head.W_S).to(torch.float8_e4m3fn)
        ctx.save_for_backward(x8, w8)
        return torch._scaled_mm(x8, w8.t(), scale_a=xs, scale_b=ws, out_dtype=torch.bfloat16)

    @staticmethod
    def backward(ctx, g):
        x8, w8 = ctx.saved_tensors
        dev = g.device
        gs = torch.tensor(FP8Head.G_S, device=dev, dtype=torch.float32)
        xs = torch.tensor(FP8Head.X_S, device=dev, dtype=torch.float32)
        ws = torch.tensor(FP8Head.W_S, device=dev, dtype=torch.float32)
        g8 = (g / FP8Head.G_S).to(torch.float8_e5m2)
        # dx = g · w: the second operand must be column-major, hence the double transpose
        dx = torch._scaled_mm(g8, w8.t().contiguous().t(), scale_a=gs, scale_b=ws, out_dtype=torch.bfloat16)
        # dw = gᵀ · x
        dw = torch._scaled_mm(g8.t().contiguous(), x8.t().contiguous().t(), scale_a=gs, scale_b=xs, out_dtype=torch.float32)
        return dx, dw.to(torch.bfloat16) if ctx.needs_input_grad[1] else None


class GPT(nn.Module):
    # the record's GPU parameter dtypes (§2 table): BF16 tables and gates, F32 matrices and scalars
    BF16_IN_MIXED = ("smear_gate", "value_embeds", "attn_gate", "lm_head", "embed")

    def __init__(self, cfg, seed=0, dtype=torch.float32, mixed=False):
        """dtype: every parameter's dtype; mixed=True: the record's mixed precision instead (BF16
        activations and BF16 tables/gates, F32 matrices and scalars, weights cast in each matmul)."""
        super().__init__()
        self.cfg = cfg
        self.act_dtype = torch.bfloat16 if mixed else None
        C, V, L, H, D, G = cfg.model_dim, cfg.vocab_padded, cfg.num_layers, cfg.num_heads, cfg.head_dim, cfg.gate_input_dims
        gen = torch.Generator().manual_seed(seed)
        def zeros(*s): return nn.Parameter(torch.zeros(*s, dtype=dtype))
        def uniform(bound, *s): return nn.Parameter((torch.rand(*s, generator=gen, dtype=torch.float64) * 2 - 1).mul(bound).to(dtype))
        self.smear_gate = zeros(1, G)
        self.value_embeds = nn.ParameterList([zeros(V, C) for _ in range(3)])
        bound = math.sqrt(3) * C ** -0.5
        self.qkvo_w = nn.ParameterDict()
        self.attn_gate = nn.ParameterDict()
        self.c_fc = nn.ParameterList()
        self.c_proj = nn.ParameterList()
        for i in range(L):
            if i not in NO_ATTENTION:
                w = torch.zeros(4 * H * D, C, dtype=dtype)
                w[:3 * H * D] = (torch.rand(3 * H * D, C, generator=gen, dtype=torch.float64) * 2 - 1).mul(bound).to(dtype)
                self.qkvo_w[str(i)] = nn.Parameter(w)
                self.attn_gate[str(i)] = zeros(H, G)
            self.c_fc.append(uniform(bound * 0.5, 4 * C, C))
            self.c_proj.append(zeros(4 * C, C))
        self.lm_head = nn.Parameter((torch.randn(V, C, generator=gen, dtype=torch.float64) * 0.005).to(dtype))
        self.embed = zeros(V, C)
        self.x0_lambdas = zeros(L)
        s = [1.1] * L + [0.5, 1.0] * L + [0.0, 0.5, -1.5] + [1.0] * cfg.scalar_pad
        self.scalars = nn.Parameter(torch.tensor(s, dtype=dtype))
        if mixed:
            with torch.no_grad():
                for name, p in self.named_parameters():
                    p.data = p.data.to(torch.bfloat16 if name.split(".")[0] in self.BF16_IN_MIXED else torch.float32)
        self.yarn = Yarn(D, cfg.block_size)
        self.split_embed = False
        self.attention = masked_attention
        self.fp8_head = False

    def state_dict_names(self):
        """Parameters under the record's state-dict names (as in the safetensors checkpoints)."""
        n = {"smear_gate.weight": self.smear_gate, "lm_head.weight": self.lm_head, "embed.weight": self.embed,
             "x0_lambdas": self.x0_lambdas, "scalars": self.scalars}
        for j in range(3):
            n[f"value_embeds.{j}.weight"] = self.value_embeds[j]
        for i in range(self.cfg.num_layers):
            if i not in NO_ATTENTION:
                n[f"blocks.{i}.attn.qkvo_w"] = self.qkvo_w[str(i)]
                n[f"blocks.{i}.attn.attn_gate.weight"] = self.attn_gate[str(i)]
            n[f"blocks.{i}.mlp.c_fc"] = self.c_fc[i]
            n[f"blocks.{i}.mlp.c_proj"] = self.c_proj[i]
        return n

    def cast(self, t):
        """A parameter as the activations use it (the record casts weights to the activation dtype)."""
        return t if self.act_dtype is None else t.to(self.act_dtype)

    def attn(self, i, x, ve, doc, window, freq):
        cfg, sc, cast = self.cfg, self.scalars, self.cast
        T, H, D = x.shape[0], cfg.num_heads, cfg.head_dim
        W = self.qkvo_w[str(i)]
        qkv = x @ cast(sc[cfg.qkv_scale(i)] * W[:3 * H * D]).t()
        q, k, v = (t.reshape(T, H, D) for t in qkv.split(H * D, dim=-1))
        q, k = norm(q), norm(k)
        theta = torch.arange(T, device=x.device, dtype=torch.float64)[:, None] * freq[None, :]   # [T, D/2]
        cos, sin = theta.cos().to(x.dtype)[:, None, :], theta.sin().to(x.dtype)[:, None, :]
        def rotary(t):
            u, w = t[..., :D // 2], t[..., D // 2:]
            return torch.cat([u * cos + w * sin, -u * sin + w * cos], dim=-1)
        q, k = rotary(q), rotary(k)
        if i in LONG_WINDOW:   # key shift of the zero-frequency dims (§2 attention step 4)
            shifted = torch.cat([k[:1], k[:-1]], dim=0)
            dims = torch.zeros(D, dtype=torch.bool, device=x.device)
            dims[D // 4:D // 2] = True
            dims[3 * D // 4:] = True
            keep = torch.zeros(T, 1, D, dtype=torch.bool, device=x.device)
            keep[1:] = dims
            k = torch.where(keep, shifted, k)
        if i in VALUE_EMBED:
            v = v + ve[VALUE_EMBED[i]].reshape(T, H, D)
        y = self.attention(q, k, v, doc, window, self.yarn.attn_scale)
        gate = torch.sigmoid(x[:, :cfg.gate_input_dims] @ cast(self.attn_gate[str(i)]).t())   # [T, H]
        y = (y * gate[:, :, None]).reshape(T, H * D)
        return y @ cast(sc[cfg.out_scale(i)] * W[3 * H * D:]).t()

    def forward(self, tokens, cu_seqlens, ws_short, ws_long, doc=None):
        """Soft-capped logits [T, V_padded] of one micro-batch (§2 steps 1-6); F32 logits in mixed precision."""
        cfg, sc, cast = self.cfg, self.scalars, self.cast
        T = tokens.shape[0]
        if doc is None:
            doc = document_ids(cu_seqlens, T, tokens.device)
        freq = self.yarn.freq.to(tokens.device)
        E = self.embed if self.split_embed else self.lm_head
        x = cast(E[tokens])
        ve = [cast(self.value_embeds[j][tokens]) for j in range(3)]
        gate = torch.sigmoid(x[1:, :cfg.gate_input_dims] @ cast(self.smear_gate).t())   # [T-1, 1]
        x = torch.cat([x[:1], x[1:] + sc[cfg.smear] * gate * x[:-1]], dim=0)
        x = x0 = norm(x)
        skip = backout = None
        for i in range(cfg.num_layers):
            if i == SKIP_OUT:
                x = x + torch.sigmoid(sc[cfg.skip]) * skip
            x = (sc[cfg.resid(0)] + self.x0_lambdas[0]) * x if i == 0 else sc[cfg.resid(i)] * x + self.x0_lambdas[i] * x0
            window = (ws_long if i in LONG_WINDOW else ws_short) * cfg.block_size
            if i not in NO_ATTENTION:
                x = x + self.attn(i, norm(x), ve, doc, window, freq)
            h = F.relu(norm(x) @ cast(self.c_fc[i]).t())
            x = x + h.square() @ cast(self.c_proj[i])
            if i == SKIP_IN:
                skip = x
            if i == BACKOUT:
                backout = x
        x = norm(x - sc[cfg.backout] * backout)
        z = FP8Head.apply(x, self.lm_head) if self.fp8_head else x @ cast(self.lm_head).t()
        return SOFTCAP * torch.sigmoid((z.float() if self.act_dtype is not None else z) / SOFTCAP_DIV)


def training_loss(logits, targets, mtp_weights, grad_accum=1):
    """Σ_p Σ_j w_j (logsumexp(ℓ[p]) − ℓ[p, target[p+j]]) over p + j < T, divided by grad_accum (§4)."""
    T = logits.shape[0]
    lse = torch.logsumexp(logits, dim=-1)
    total = 0
    for j, w in enumerate(mtp_weights):
        if w == 0 or j >= T:
            continue
        picked = logits[:T - j].gather(1, targets[j:, None])[:, 0]
        total = total + w * (lse[:T - j] - picked).sum()
    return total / grad_accum


def eval_loss(logits, targets):
    """Mean cross-entropy over the tokens (§2 step 7)."""
    return F.cross_entropy(logits.float() if logits.dtype == torch.bfloat16 else logits, targets)


# ---------------------------------------------------------------- safetensors (no extra package)

_DT = {"F64": torch.float64, "F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "I32": torch.int32}


def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    body = memoryview(raw)[8 + n:]
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        t = torch.frombuffer(bytearray(body[a:b]), dtype=_DT[h["dtype"]])
        out[name] = t.reshape(h["shape"])
    return out


def load_weights(model, path):
    """Copies a checkpoint with the record's state-dict names into the model; names and shapes must match."""
    tensors = load_safetensors(path)
    params = model.state_dict_names()
    missing = sorted(set(params) - set(tensors))
    extra = sorted(set(tensors) - set(params))
    if missing or extra:
        raise ValueError(f"{path}: missing {missing}, unexpected {extra}")
    with torch.no_grad():
        for name, p in params.items():
            t = tensors[name]
            if tuple(t.shape) != tuple(p.shape):
                raise ValueError(f"{path}: {name} has shape {tuple(t.shape)}, the model {tuple(p.shape)}")
            p.copy_(t.to(p.dtype))
