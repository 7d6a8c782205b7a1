#!/usr/bin/env python3
"""Record the expert routing of a Hugging Face transformers MoE model as a mozart trace.

Hooks every MoE router (OLMoE, Qwen2-MoE, Qwen3-MoE, Mixtral, DeepSeek-V2/V3 and DeepSeek-MoE
through trust_remote_code), runs the model over a text or Alpaca-style JSONL dataset, and writes
mozart's JSONL trace: a metadata line, then one record per token and MoE layer

    {"layer": 3, "token_idx": 17, "seq_id": 0, "position": 17, "experts": [7, 0],
     "gating_probs": [0.8, 0.2], "domain": "alpaca"}

with the experts in rank order. `mozart trace convert trace.jsonl trace.mzt` makes it native.

Without model weights (no network), `--tiny FAMILY` builds a small randomly initialised model of
that family from its transformers config class and tokenises by hashing words: this checks the
hooks and the output format, not real routing. `--self-test` writes a small trace without
PyTorch, to check the format against the mozart binary.

Examples:
    python3 tools/collect_routing.py --model allenai/OLMoE-1B-7B-0924 --data alpaca.json \
        --max-tokens 65536 --out olmoe-alpaca.jsonl
    python3 tools/collect_routing.py --tiny qwen3_moe --data notes.txt --out tiny.jsonl
"""

import argparse
import hashlib
import json
import re
import sys

FAMILIES = ["olmoe", "qwen2_moe", "qwen3_moe", "mixtral", "deepseek_v2", "deepseek_v3"]
ROUTER = re.compile(r"layers\.(\d+)\.(?:mlp|block_sparse_moe|feed_forward)\.(?:gate|router)$")


def fail(message):
    print(f"collect_routing: error: {message}", file=sys.stderr)
    sys.exit(2)


# ----------------------------------------------------------------------------- the dataset


def read_texts(path, text_field):
    """Texts of a plain-text file (paragraphs) or a JSON/JSONL file (Alpaca or {"text": ...})."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = f.read()
    except OSError as e:
        fail(f"{path}: cannot read: {e.strerror}")
    if path.endswith(".txt"):
        return [p.strip() for p in raw.split("\n\n") if p.strip()]
    try:
        records = json.loads(raw) if path.endswith(".json") else [
            json.loads(line) for line in raw.splitlines() if line.strip()]
    except json.JSONDecodeError as e:
        fail(f"{path}:{e.lineno}: not JSON: {e.msg}")
    texts = []
    for number, record in enumerate(records, 1):
        if text_field in record:
            texts.append(str(record[text_field]))
        elif "instruction" in record:
            parts = [record.get("instruction", ""), record.get("input", ""), record.get("output", "")]
            texts.append("\n".join(p for p in parts if p))
        else:
            fail(f"{path}: record {number}: field '{text_field}' or 'instruction' expected")
    return texts


def hashed_ids(text, vocab):
    """A deterministic stand-in tokenizer for models without one: one id per word."""
    return [int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little") % vocab
            for w in text.split()]


def sequences(texts, tokenize, seq_len, max_tokens):
    """Token sequences of at most seq_len, up to max_tokens in all."""
    out, total = [], 0
    for text in texts:
        ids = tokenize(text)
        for start in range(0, len(ids), seq_len):
            chunk = ids[start:start + seq_len]
            if total + len(chunk) > max_tokens:
                chunk = chunk[:max_tokens - total]
            if chunk:
                out.append(chunk)
                total += len(chunk)
            if total >= max_tokens:
                return out
    return out


# ----------------------------------------------------------------------------- the routers


def route_from_logits(torch, logits, config, module):
    """Top-k experts and gates from router logits, as the family's MoE block chooses them."""
    k = config.num_experts_per_tok
    scoring = getattr(config, "scoring_func", "softmax")
    if config.model_type == "deepseek_v3":
        scoring = "sigmoid"
    scores = logits.float().sigmoid() if scoring == "sigmoid" else logits.float().softmax(-1)
    choice = scores
    bias = getattr(module, "e_score_correction_bias", None)
    if bias is not None:
        choice = scores + bias.float()
    groups = getattr(config, "n_group", None) or 1
    top_groups = getattr(config, "topk_group", None) or groups
    if groups > 1 and top_groups < groups:
        per_group = choice.view(choice.shape[0], groups, -1)
        if config.model_type == "deepseek_v3":
            group_score = per_group.topk(2, dim=-1).values.sum(-1)
        else:
            group_score = per_group.max(-1).values
        keep = torch.zeros_like(group_score).scatter_(1, group_score.topk(top_groups, -1).indices, 1)
        mask = keep.unsqueeze(-1).expand_as(per_group).reshape(choice.shape)
        choice = choice.masked_fill(mask == 0, float("-inf"))
    indices = choice.topk(k, dim=-1).indices
    gates = scores.gather(-1, indices)
    if getattr(config, "norm_topk_prob", False) or config.model_type == "mixtral":
        gates = gates / gates.sum(-1, keepdim=True)
    return indices, gates


def route_from_output(torch, output, config, module):
    """A router returns logits [tokens, E], or (indices, weights) / (logits, weights, indices)."""
    if torch.is_tensor(output) and output.is_floating_point():
        return route_from_logits(torch, output.reshape(-1, output.shape[-1]), config, module)
    if isinstance(output, (tuple, list)):
        ints = [t for t in output if torch.is_tensor(t) and not t.is_floating_point()]
        floats = [t for t in output if torch.is_tensor(t) and t.is_floating_point()]
        k = config.num_experts_per_tok
        if ints:
            indices = ints[0].reshape(-1, ints[0].shape[-1])
            weights = [f for f in floats if f.shape[-1] == indices.shape[-1]]
            gates = weights[-1].reshape(indices.shape) if weights else torch.ones_like(indices, dtype=torch.float)
            return indices[:, :k], gates[:, :k].float()
        if floats:
            return route_from_logits(torch, floats[0].reshape(-1, floats[0].shape[-1]), config, module)
    raise RuntimeError(f"unrecognised router output of {type(module).__name__}: {type(output)}")


def attach_hooks(torch, model, config, store):
    layers = []
    for name, module in model.named_modules():
        match = ROUTER.search(name)
        if not match:
            continue
        layer = int(match.group(1))
        layers.append(layer)

        def hook(mod, _inputs, output, layer=layer):
            indices, gates = route_from_output(torch, output, config, mod)
            store[layer] = (indices.detach().cpu(), gates.detach().cpu())

        module.register_forward_hook(hook)
    return sorted(layers)


# ----------------------------------------------------------------------------- models


def tiny_config(family):
    from transformers import AutoConfig
    common = dict(vocab_size=1024, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
    moe = {
        "olmoe": dict(num_experts=16, num_experts_per_tok=4),
        "qwen2_moe": dict(num_experts=16, num_experts_per_tok=4, moe_intermediate_size=32,
                          shared_expert_intermediate_size=64),
        "qwen3_moe": dict(num_experts=16, num_experts_per_tok=4, moe_intermediate_size=32,
                          head_dim=16),
        "mixtral": dict(num_local_experts=8, num_experts_per_tok=2),
        "deepseek_v2": dict(n_routed_experts=16, num_experts_per_tok=4, n_shared_experts=1,
                            moe_intermediate_size=32, first_k_dense_replace=1, n_group=4,
                            topk_group=2, kv_lora_rank=16, q_lora_rank=32,
                            qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16,
                            topk_method="group_limited_greedy"),
        "deepseek_v3": dict(n_routed_experts=16, num_experts_per_tok=4, n_shared_experts=1,
                            moe_intermediate_size=32, first_k_dense_replace=1, n_group=4,
                            topk_group=2, kv_lora_rank=16, q_lora_rank=32,
                            qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16),
    }[family]
    return AutoConfig.for_model(family, **common, **moe)


def experts_of(config):
    for key in ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts"):
        if getattr(config, key, None):
            return int(getattr(config, key))
    fail("cannot find the routed expert count in the model config")


# ----------------------------------------------------------------------------- output


def write_trace(path, meta, records):
    """mozart's JSONL: a metadata line, then records; written whole or not at all."""
    temp = f"{path}.tmp"
    with open(temp, "w", encoding="utf-8") as f:
        f.write(json.dumps({"mozart_trace": 1, **meta}) + "\n")
        for record in records:
            f.write(json.dumps(record) + "\n")
    import os
    os.replace(temp, path)


def collect(args):
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, AutoConfig
    except ImportError as e:
        fail(f"PyTorch and transformers are needed ({e})")
    torch.manual_seed(args.seed)
    if args.tiny:
        config = tiny_config(args.tiny)
        model = AutoModelForCausalLM.from_config(config)
        tokenize = lambda text: hashed_ids(text, config.vocab_size)
        name = f"tiny-{args.tiny}"
    else:
        config = AutoConfig.from_pretrained(args.model, trust_remote_code=args.trust_remote_code)
        if args.random_init:
            model = AutoModelForCausalLM.from_config(config, trust_remote_code=args.trust_remote_code)
        else:
            model = AutoModelForCausalLM.from_pretrained(
                args.model, torch_dtype=getattr(torch, args.dtype),
                trust_remote_code=args.trust_remote_code)
        try:
            tokenizer = AutoTokenizer.from_pretrained(args.model)
            tokenize = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]
        except Exception:  # no tokenizer files: fall back to hashed words
            tokenize = lambda text: hashed_ids(text, config.vocab_size)
        name = args.model
    model.to(args.device).eval()
    store = {}
    layers = attach_hooks(torch, model, config, store)
    if not layers:
        fail(f"no MoE router found in {type(model).__name__} (module names like "
             f"'model.layers.N.mlp.gate' expected)")
    seqs = sequences(read_texts(args.data, args.text_field), tokenize, args.seq_len, args.max_tokens)
    if not seqs:
        fail(f"{args.data}: no tokens")
    domain = args.domain or args.data.rsplit("/", 1)[-1].split(".")[0]
    records, token = [], 0
    with torch.no_grad():
        for seq_id, ids in enumerate(seqs):
            store.clear()
            model(torch.tensor([ids], device=args.device))
            for position in range(len(ids)):
                for layer in layers:
                    indices, gates = store[layer]
                    records.append({"layer": layer, "token_idx": token, "seq_id": seq_id,
                                    "position": position,
                                    "experts": [int(e) for e in indices[position]],
                                    "gating_probs": [round(float(g), 6) for g in gates[position]],
                                    "domain": domain})
                token += 1
    meta = {"model": name, "experts": experts_of(config), "top_k": int(config.num_experts_per_tok),
            "layer_ids": layers, "domains": [domain]}
    write_trace(args.out, meta, records)
    print(f"wrote {token} tokens x {len(layers)} MoE layers of {name} to {args.out}")


def self_test(args):
    """A small valid trace without PyTorch: 3 sequences of 5 tokens, 2 layers, top-2 of 4."""
    records, token = [], 0
    for seq_id in range(3):
        for position in range(5):
            for layer in (1, 3):
                first = (token + layer) % 4
                records.append({"layer": layer, "token_idx": token, "seq_id": seq_id,
                                "position": position, "experts": [first, (first + 1) % 4],
                                "gating_probs": [0.75, 0.25], "domain": "self-test"})
            token += 1
    write_trace(args.out, {"model": "self-test", "experts": 4, "top_k": 2, "layer_ids": [1, 3],
                           "domains": ["self-test"]}, records)
    print(f"wrote {token} tokens to {args.out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="Hugging Face model id or local directory")
    source.add_argument("--tiny", choices=FAMILIES, help="a small random model of this family")
    source.add_argument("--self-test", action="store_true", help="write a small trace, no PyTorch")
    parser.add_argument("--data", help="dataset: .txt (paragraphs), .json or .jsonl (Alpaca or text)")
    parser.add_argument("--text-field", default="text", help="JSON field holding the text")
    parser.add_argument("--domain", help="domain tag of every token (default: the file's stem)")
    parser.add_argument("--out", "-o", required=True, help="trace to write (mozart JSONL)")
    parser.add_argument("--max-tokens", type=int, default=16384)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--random-init", action="store_true", help="random weights of --model's config")
    parser.add_argument("--trust-remote-code", action="store_true", help="for DeepSeek-MoE")
    args = parser.parse_args()
    if args.self_test:
        return self_test(args)
    if not args.data:
        fail("--data is required")
    if args.max_tokens < 1 or args.seq_len < 1:
        fail("--max-tokens and --seq-len must be positive")
    collect(args)


if __name__ == "__main__":
    main()
