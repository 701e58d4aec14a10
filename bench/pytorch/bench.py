"""The PyTorch reference's side of the race: the record model's micro-step, timed, and its loss
on a shared case, so that `scripts/gpu-check.sh` can put it beside `train-app bench step`.

  python3 bench/pytorch/bench.py step --tokens 16384,49152 [--preset record178|tiny|cpu-small]
        [--window-short N --window-long N (tokens)] [--docs 4] [--dtype mixed|f32|f64]
        [--with-optimizer] [--iters 5] [--warmup 2] [--no-compile] [--no-fp8] [--json FILE]
  python3 bench/pytorch/bench.py case --out DIR [--preset ...] [--tokens N] [--seed S]
  python3 bench/pytorch/bench.py loss --case DIR/case.json [--dtype mixed|f32|f64]

`step` times forward + backward (+ the optimizer step) of one micro-batch of random tokens in
`--docs` documents, as `train-app bench step` does, with torch.compile and FlexAttention on a
GPU (masked softmax on CPU) and the FP8 LM head on sm_89+ in mixed precision. `case` writes a
loss case (the format of fixtures/model_tiny.json: random weights from the model's own init in a
safetensors file, tokens, targets, documents) that `train-app loss --case` reads too; `loss`
prints this implementation's results for it, one JSON line each.
"""
import argparse
import json
import os
import random
import statistics
import struct
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt as G        # noqa: E402
import optim as O      # noqa: E402

PRESETS = {
    "record178": dict(vocab_size=50257, num_heads=6, head_dim=128, model_dim=768, block_size=128),
    "cpu-small": dict(vocab_size=4096, num_heads=4, head_dim=16, model_dim=64, block_size=16),
    "tiny": dict(vocab_size=100, num_heads=2, head_dim=8, model_dim=16, block_size=2),
}


def config(preset):
    if preset not in PRESETS:
        sys.exit(f"bench.py: unknown --preset '{preset}' (valid: {', '.join(PRESETS)})")
    return G.Config(**PRESETS[preset])


def documents(T, n, rng):
    """cu_seqlens of n documents with random cut points in (0, T)."""
    cuts = sorted(1 + rng.randrange(max(1, T - 1)) for _ in range(n - 1))
    return [0] + cuts + [T]


def keys_seen(cu, window):
    return sum(p - max(cu[d], p - window) + 1 for d in range(len(cu) - 1) for p in range(cu[d], cu[d + 1]))


def matmul_params(model):
    return sum(p.numel() for n, p in model.state_dict_names().items() if not n.startswith(("embed", "value_embeds")))


def build(cfg, dtype, device, seed):
    mixed = dtype == "mixed"
    dt = {"f32": torch.float32, "f64": torch.float64, "mixed": torch.float32}[dtype]
    model = G.GPT(cfg, seed=seed, dtype=dt, mixed=mixed).to(device)
    return model


def cmd_step(a):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    cfg = config(a.preset)
    model = build(cfg, a.dtype, device, seed=1234)
    flex = device == "cuda"
    if flex:
        model.attention = G.FlexAttention()
    cap = torch.cuda.get_device_capability() if device == "cuda" else (0, 0)
    model.fp8_head = a.dtype == "mixed" and device == "cuda" and cap >= (8, 9) and not a.no_fp8
    fwd = torch.compile(model, dynamic=False) if device == "cuda" and not a.no_compile else model
    opt = O.RecordOptimizers(model, pe_dtype=torch.bfloat16 if a.dtype == "mixed" else None) if a.with_optimizer else None
    mp = matmul_params(model)
    info = dict(device=torch.cuda.get_device_name() if device == "cuda" else "cpu", torch=torch.__version__, dtype=a.dtype,
                compiled=fwd is not model, attention="flex" if flex else "masked-softmax", fp8_head=model.fp8_head,
                with_optimizer=a.with_optimizer, matmul_params=mp)
    print("pytorch bench step: " + json.dumps(info))
    print(f"{'tokens':>8} {'win_s':>8} {'win_l':>8} {'ms/step':>11} {'best ms':>12} {'tokens/s':>12} {'GFLOP/s':>9}")
    rows = []
    step_no = 0
    for T in a.tokens:
        bs = cfg.block_size
        ws = max(1, round((a.window_short if a.window_short is not None else T // 4) / bs))
        wl = max(1, round((a.window_long if a.window_long is not None else 3 * T // 4) / bs))
        rng = random.Random(T)
        tokens = torch.tensor([rng.randrange(cfg.vocab_size) for _ in range(T)], device=device)
        targets = torch.tensor([rng.randrange(cfg.vocab_size) for _ in range(T)], device=device)
        cu = documents(T, min(a.docs, T), rng)
        doc = G.document_ids(cu, T, device)
        if flex:
            model.attention.prepare(doc, sorted({ws * bs, wl * bs}))
        flops = 6.0 * mp * T
        for layer in range(cfg.num_layers):
            if layer not in G.NO_ATTENTION:
                flops += 12.0 * cfg.num_heads * cfg.head_dim * keys_seen(cu, (wl if layer in G.LONG_WINDOW else ws) * bs)

        def one():
            nonlocal step_no
            if opt is None:
                model.zero_grad(set_to_none=True)
            logits = fwd(tokens, cu, ws, wl, doc)
            G.training_loss(logits, targets, [1.0]).backward()
            if opt is not None:
                opt.step(step_no, 1.0, 0.95)
                step_no += 1
            if device == "cuda":
                torch.cuda.synchronize()

        for _ in range(a.warmup):
            one()
        ms = []
        for _ in range(a.iters):
            t0 = time.perf_counter()
            one()
            ms.append((time.perf_counter() - t0) * 1e3)
        med = statistics.median(ms)
        rows.append(dict(tokens=T, window_short=ws * bs, window_long=wl * bs, ms=med, best_ms=min(ms), tokens_per_s=T / med * 1e3,
                         flops=flops))
        print(f"{T:8d} {ws * bs:8d} {wl * bs:8d} {med:11.2f} {min(ms):12.2f} {T / med * 1e3:12.0f} {flops / med / 1e6:9.2f}")
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump(dict(info, rows=rows), f, indent=1)
        os.replace(a.json + ".tmp", a.json)


def write_safetensors(path, tensors):
    header, chunks, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)
    os.replace(path + ".tmp", path)


def cmd_case(a):
    cfg = config(a.preset)
    model = G.GPT(cfg, seed=a.seed, dtype=torch.float32)
    with torch.no_grad():   # the init leaves c_proj, O, value embeddings and gates at zero: fill them, so every path counts
        gen = torch.Generator().manual_seed(a.seed + 1)
        for n, p in model.state_dict_names().items():
            if n != "scalars" and bool((p == 0).all()):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
            elif n.endswith("qkvo_w"):
                H = cfg.num_heads * cfg.head_dim
                p[3 * H:] = torch.randn(p[3 * H:].shape, generator=gen) * 0.02
    rng = random.Random(a.seed)
    T = a.tokens
    os.makedirs(a.out, exist_ok=True)
    write_safetensors(os.path.join(a.out, "case.safetensors"), model.state_dict_names())
    bs = cfg.block_size
    case = dict(config=dict(vocab_size=cfg.vocab_size, vocab_padded=cfg.vocab_padded, num_layers=cfg.num_layers,
                            num_heads=cfg.num_heads, head_dim=cfg.head_dim, model_dim=cfg.model_dim, block_size=bs,
                            gate_input_dims=cfg.gate_input_dims),
                weights_file="case.safetensors",
                tokens=[rng.randrange(cfg.vocab_size) for _ in range(T)],
                targets=[rng.randrange(cfg.vocab_size) for _ in range(T)],
                cu_seqlens=documents(T, min(4, T), rng),
                ws_short=max(1, T // 4 // bs), ws_long=max(1, 3 * T // 4 // bs), yarn_updates=[],
                results=[dict(mode="train_sum", split_embed=False, mtp_weights=[1.0]),
                         dict(mode="train_sum", split_embed=False, mtp_weights=[1.0, 0.5, 0.25]),
                         dict(mode="eval_mean", split_embed=False)])
    path = os.path.join(a.out, "case.json")
    with open(path + ".tmp", "w") as f:
        json.dump(case, f)
    os.replace(path + ".tmp", path)
    print(path)


def cmd_loss(a):
    case = json.load(open(a.case))
    c = case["config"]
    cfg = G.Config(c["vocab_size"], c["num_layers"], c["num_heads"], c["head_dim"], c["model_dim"], c["block_size"], c["gate_input_dims"])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = build(cfg, a.dtype, device, seed=0)
    G.load_weights(model, os.path.join(os.path.dirname(os.path.abspath(a.case)), case["weights_file"]))
    if device == "cuda":
        model.attention = G.FlexAttention()
    tokens = torch.tensor(case["tokens"], device=device)
    targets = torch.tensor(case["targets"], device=device)
    T = tokens.shape[0]
    doc = G.document_ids(case["cu_seqlens"], T, device)
    if device == "cuda":
        model.attention.prepare(doc, sorted({case["ws_short"] * cfg.block_size, case["ws_long"] * cfg.block_size}))
    for r in case["results"]:
        model.split_embed = r.get("split_embed", False)
        with torch.no_grad():
            logits = model(tokens, case["cu_seqlens"], case["ws_short"], case["ws_long"], doc)
        if r["mode"] == "train_sum":
            loss = G.training_loss(logits.double(), targets, r.get("mtp_weights", [1.0])).item()
        else:
            loss = G.eval_loss(logits.double(), targets).item()
        print(json.dumps(dict(mode=r["mode"], split_embed=model.split_embed, mtp_weights=r.get("mtp_weights"), loss=loss)))


def main():
    ap = argparse.ArgumentParser(description="PyTorch reference: bench step, loss cases")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("step")
    s.add_argument("--tokens", type=lambda v: [int(x) for x in v.split(",")], default=[16384])
    s.add_argument("--preset", default="record178")
    s.add_argument("--window-short", type=int)
    s.add_argument("--window-long", type=int)
    s.add_argument("--docs", type=int, default=4)
    s.add_argument("--dtype", choices=["mixed", "f32", "f64"], default="mixed")
    s.add_argument("--with-optimizer", action="store_true")
    s.add_argument("--iters", type=int, default=5)
    s.add_argument("--warmup", type=int, default=2)
    s.add_argument("--no-compile", action="store_true")
    s.add_argument("--no-fp8", action="store_true")
    s.add_argument("--json")
    c = sub.add_parser("case")
    c.add_argument("--out", required=True)
    c.add_argument("--preset", default="record178")
    c.add_argument("--tokens", type=int, default=16384)
    c.add_argument("--seed", type=int, default=0)
    l = sub.add_parser("loss")
    l.add_argument("--case", required=True)
    l.add_argument("--dtype", choices=["mixed", "f32", "f64"], default="mixed")
    a = ap.parse_args()
    if a.cmd == "step":
        if a.iters < 1 or a.warmup < 0 or a.docs < 1 or any(t < 1 for t in a.tokens):
            sys.exit("bench.py step: --iters ≥ 1, --warmup ≥ 0, --docs ≥ 1 and --tokens entries ≥ 1")
        cmd_step(a)
    elif a.cmd == "case":
        cmd_case(a)
    else:
        cmd_loss(a)


if __name__ == "__main__":
    main()
