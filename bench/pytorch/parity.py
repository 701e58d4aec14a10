"""Float64 parity of the PyTorch reference with the project's fixtures, on CPU.

  python3 bench/pytorch/parity.py [--fixtures DIR] [--tol 1e-9]

Runs the tiny fixture model (fixtures/model_tiny.json + .safetensors) through gpt.py in float64
and compares every result (training sums with MTP weights, evaluation means, the first soft-capped
logits, tied and split embedding), then every optimizer case of fixtures/optimizers.json through
optim.py. Prints the worst relative error of each and exits 1 when one exceeds --tol.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt as G        # noqa: E402
import optim as O      # noqa: E402


def rel(got, want):
    return abs(got - want) / max(abs(want), 1e-300)


def model_case(fx_dir):
    case = json.load(open(os.path.join(fx_dir, "model_tiny.json")))
    c = case["config"]
    cfg = G.Config(c["vocab_size"], c["num_layers"], c["num_heads"], c["head_dim"], c["model_dim"], c["block_size"], c["gate_input_dims"])
    assert cfg.vocab_padded == c["vocab_padded"], (cfg.vocab_padded, c["vocab_padded"])
    model = G.GPT(cfg, dtype=torch.float64)
    G.load_weights(model, os.path.join(fx_dir, case["weights_file"]))
    for u in case.get("yarn_updates", []):
        old, new = (u[0], u[1]) if isinstance(u, list) else (u["old"], u["new"])
        model.yarn.apply(old, new)
    worst = max(rel(model.yarn.attn_scale, case["attn_scale"]),
                max(abs(a - b) for a, b in zip(model.yarn.freq.tolist(), case["angular_freq"])))
    tokens = torch.tensor(case["tokens"])
    targets = torch.tensor(case["targets"])
    lines = []
    for r in case["results"]:
        model.split_embed = r.get("split_embed", False)
        with torch.no_grad():
            logits = model(tokens, case["cu_seqlens"], case["ws_short"], case["ws_long"])
        if r["mode"] == "train_sum":
            got = G.training_loss(logits, targets, r.get("mtp_weights", [1.0])).item()
        elif r["mode"] == "eval_mean":
            got = G.eval_loss(logits, targets).item()
            for a, b in zip(logits[0, :len(r["logits_row0_first8"])].tolist(), r["logits_row0_first8"]):
                worst = max(worst, rel(a, b))
        else:
            raise ValueError(f"model_tiny.json: unknown mode {r['mode']}")
        e = rel(got, r["loss"])
        worst = max(worst, e)
        lines.append(f"  {r['mode']:9s} split={str(r.get('split_embed', False)):5s} mtp={r.get('mtp_weights', '')!s:16s} "
                     f"loss {got:.15g} (fixture {r['loss']:.15g}, rel {e:.2e})")
    return worst, lines


def optimizer_cases(fx_dir):
    fx = json.load(open(os.path.join(fx_dir, "optimizers.json")))
    worst, lines = 0.0, []
    for name, c in fx.items():
        if "input" in c:   # Polar Express
            got = O.polar_express(torch.tensor(c["input"], dtype=torch.float64))
            e = (got - torch.tensor(c["output"], dtype=torch.float64)).abs().max().item() / torch.tensor(c["output"]).abs().max().item()
        elif name.startswith("normuon"):
            p = torch.tensor(c["param_before"], dtype=torch.float64)
            opt = O.NorMuonParam(p.shape, lr=c["lr"], weight_decay=c["weight_decay"], beta2=c["beta2"], lr_mul=c["lr_mul"],
                                 four_blocks=c["split_into_4_blocks"], dtype=torch.float64)
            e = 0.0
            for s in c["steps"]:
                opt.step(p, torch.tensor(s["grad"], dtype=torch.float64), momentum=c["momentum"])
                want = torch.tensor(s["param_after"], dtype=torch.float64)
                e = max(e, ((p - want).abs().max() / want.abs().max()).item())
        else:              # Adam
            p = torch.tensor(c["param_before"], dtype=torch.float64)
            opt = O.AdamParam(p.shape, lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=c["eps"], weight_decay=c["weight_decay"],
                              wd_mul=c["wd_mul"], strict=c["cautious_mask"] == ">", dtype=torch.float64)
            e = 0.0
            for s in c["steps"]:
                opt.step(p, torch.tensor(s["grad"], dtype=torch.float64))
                want = torch.tensor(s["param_after"], dtype=torch.float64)
                e = max(e, ((p - want).abs().max() / want.abs().max()).item())
        worst = max(worst, e)
        lines.append(f"  {name:20s} rel {e:.2e}")
    return worst, lines


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixtures", default=os.path.join(here, "..", "..", "fixtures"))
    ap.add_argument("--tol", type=float, default=1e-9)
    a = ap.parse_args()
    if not os.path.isfile(os.path.join(a.fixtures, "model_tiny.json")):
        sys.exit(f"parity: no model_tiny.json in --fixtures {a.fixtures}")
    mw, ml = model_case(a.fixtures)
    print(f"model_tiny (float64, CPU): worst relative error {mw:.3e}")
    print("\n".join(ml))
    ow, ol = optimizer_cases(a.fixtures)
    print(f"optimizers (float64, CPU): worst relative error {ow:.3e}")
    print("\n".join(ol))
    ok = mw <= a.tol and ow <= a.tol
    print(f"parity: {'OK' if ok else 'FAILED'} (tolerance {a.tol:g})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
